import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { act, screen, waitFor, within } from "@testing-library/react";
import { render } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { App } from "./App";
import { mockFetch, signIn } from "./test/helpers";

const empty = { body: { items: [], next_cursor: "" } };
const routes = {
  "GET /api/connectors": empty, "GET /api/profiles": empty, "GET /api/conflicts": empty, "GET /api/runs": empty, "GET /api/audit": empty,
};
const pages = [
  ["/", "Dashboard", "Dashboard"],
  ["/connectors", "Connectors", "Connectors"],
  ["/profiles", "Profiles", "Profiles"],
  ["/mappings", "Mappings", "Mappings"],
  ["/conflicts", "Conflicts", "Conflicts"],
  ["/runs", "Runs", "Runs"],
  ["/audit", "Audit log", "Audit log"],
] as const;

beforeEach(() => {
  history.replaceState(null, "", "/");
});
afterEach(() => history.replaceState(null, "", "/"));

const nav = () => screen.getByTestId("nav");
const current = () => within(nav()).getAllByRole("link").filter((a) => a.getAttribute("aria-current") === "page").map((a) => a.textContent);

describe("app shell", () => {
  it("signs in to the Dashboard, one page at a time", async () => {
    mockFetch({
      "POST /api/auth/login": { body: { token: "t", expires_at: new Date(Date.now() + 3600_000).toISOString() } },
      ...routes,
    });
    render(<App />);
    expect(screen.getByRole("heading", { name: "Sign in to Timebridge" })).toBeInTheDocument();
    expect(document.title).toBe("Sign in · Timebridge");
    await userEvent.type(screen.getByLabelText("Password"), "pw");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    await screen.findByTestId("nav");
    expect(screen.getByRole("heading", { level: 2, name: "Dashboard" })).toBeInTheDocument();
    expect(screen.queryByRole("heading", { level: 2, name: "Connectors" })).toBeNull();
    expect(document.title).toBe("Dashboard · Timebridge");
    expect(current()).toEqual(["Dashboard"]);
  });

  it("the nav goes to every page: its path, title, aria-current and focus on its heading", async () => {
    signIn();
    mockFetch(routes);
    render(<App />);
    await screen.findByTestId("nav");
    // Reports is in the nav, after Runs.
    expect(within(nav()).getAllByRole("link").map((a) => a.textContent)).toEqual([
      "Dashboard", "Connectors", "Profiles", "Mappings", "Conflicts", "Runs", "Reports", "Audit log",
    ]);
    for (const [path, link, heading] of [...pages.slice(1), pages[0]]) {
      await userEvent.click(within(nav()).getByRole("link", { name: link }));
      expect(location.pathname).toBe(path);
      const h = await screen.findByRole("heading", { level: 2, name: heading });
      expect(document.title).toBe(`${heading} · Timebridge`);
      expect(current()).toEqual([link]);
      await waitFor(() => expect(h).toHaveFocus());
      expect(screen.getAllByRole("heading", { level: 2 })).toHaveLength(1);
    }
    await userEvent.click(within(nav()).getByRole("link", { name: "Reports" }));
    expect(location.pathname).toBe("/reports");
    expect(document.title).toBe("Reports · Timebridge");
    expect(current()).toEqual(["Reports"]);
  });

  it("opens the page a deep link names, keeps its query string, follows back and forward", async () => {
    signIn();
    mockFetch(routes);
    history.replaceState(null, "", "/conflicts?profile=p1");
    render(<App />);
    expect(await screen.findByRole("heading", { level: 2, name: "Conflicts" })).toBeInTheDocument();
    expect(location.search).toBe("?profile=p1");
    expect(current()).toEqual(["Conflicts"]);
    // No focus is taken on the first page shown (Tab still reaches the skip link first).
    expect(document.body).toHaveFocus();
    await userEvent.click(within(nav()).getByRole("link", { name: "Runs" }));
    await screen.findByRole("heading", { level: 2, name: "Runs" });
    // Back: the browser restores the address, then sends popstate.
    act(() => {
      history.replaceState(null, "", "/conflicts?profile=p1");
      window.dispatchEvent(new PopStateEvent("popstate"));
    });
    expect(await screen.findByRole("heading", { level: 2, name: "Conflicts" })).toBeInTheDocument();
    expect(current()).toEqual(["Conflicts"]);
  });

  it("a run's page belongs to Runs and is named in the title", async () => {
    signIn();
    mockFetch(routes);
    history.replaceState(null, "", "/runs/r42");
    render(<App />);
    await screen.findByTestId("nav");
    expect(current()).toEqual(["Runs"]);
    expect(document.title).toBe("Run r42 · Timebridge");
  });

  it("an unknown path shows a not-found page with a link home", async () => {
    signIn();
    mockFetch(routes);
    history.replaceState(null, "", "/no/such/page");
    render(<App />);
    expect(await screen.findByRole("heading", { level: 2, name: "Page not found" })).toBeInTheDocument();
    expect(document.title).toBe("Page not found · Timebridge");
    expect(current()).toEqual([]);
    expect(screen.getByTestId("not-found")).toHaveTextContent("/no/such/page");
    await userEvent.click(screen.getByRole("link", { name: "Go to the Dashboard" }));
    expect(location.pathname).toBe("/");
    expect(await screen.findByRole("heading", { level: 2, name: "Dashboard" })).toHaveFocus();
  });

  it("on a narrow screen the menu button shows and hides the pages, and closes after a choice", async () => {
    signIn();
    mockFetch(routes);
    render(<App />);
    const button = await screen.findByRole("button", { name: "Menu" });
    expect(button).toHaveAttribute("aria-expanded", "false");
    expect(button).toHaveAttribute("aria-controls", "nav-pages");
    await userEvent.click(button);
    expect(button).toHaveAttribute("aria-expanded", "true");
    expect(nav()).toHaveClass("open");
    await userEvent.click(within(nav()).getByRole("link", { name: "Audit log" }));
    await screen.findByRole("heading", { level: 2, name: "Audit log" });
    expect(screen.getByRole("button", { name: "Menu" })).toHaveAttribute("aria-expanded", "false");
    // Choosing the page already shown closes it too.
    await userEvent.click(screen.getByRole("button", { name: "Menu" }));
    await userEvent.click(within(nav()).getByRole("link", { name: "Audit log" }));
    expect(screen.getByRole("button", { name: "Menu" })).toHaveAttribute("aria-expanded", "false");
    // Escape closes it and returns focus to the button.
    await userEvent.click(screen.getByRole("button", { name: "Menu" }));
    within(nav()).getByRole("link", { name: "Runs" }).focus();
    await userEvent.keyboard("{Escape}");
    expect(screen.getByRole("button", { name: "Menu" })).toHaveFocus();
    expect(nav()).not.toHaveClass("open");
  });

  it("returns to sign-in with a message when the session expires", async () => {
    signIn();
    const expired = { status: 401, body: { error: { code: "unauthorized", message: "The token has expired.", fields: {} } } };
    mockFetch({ "GET /api/connectors": expired, "GET /api/profiles": expired, "GET /api/conflicts": expired, "GET /api/runs": expired, "GET /api/audit": expired });
    render(<App />);
    await waitFor(() => expect(screen.getByRole("heading", { name: "Sign in to Timebridge" })).toBeInTheDocument());
    expect(screen.getByText(/session has expired/)).toBeInTheDocument();
    expect(sessionStorage.getItem("timebridge.session")).toBeNull();
  });

  it("signs out", async () => {
    signIn();
    mockFetch(routes);
    render(<App />);
    await userEvent.click(await screen.findByTestId("signout"));
    expect(screen.getByRole("heading", { name: "Sign in to Timebridge" })).toBeInTheDocument();
    expect(sessionStorage.getItem("timebridge.session")).toBeNull();
  });
});
