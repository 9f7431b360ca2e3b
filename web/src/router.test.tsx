import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { act, fireEvent, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Link, matchRoute, navigate, navPage, routeTitle, useLinkInterception, useLocation, useSearchParams } from "./router";

function Where() {
  const { path, search } = useLocation();
  const q = useSearchParams();
  return (
    <p data-testid="where" data-path={path} data-search={search} data-profile={q.get("profile") ?? ""}>
      {path}
      {search}
    </p>
  );
}

function Shell({ children }: { children?: React.ReactNode }) {
  useLinkInterception();
  return (
    <>
      <Where />
      {children}
    </>
  );
}

const where = () => screen.getByTestId("where");

// Whether the router took a click (prevented the browser's navigation). A
// window listener runs after the router's (document) one, records it, and
// then stops jsdom from attempting the navigation it cannot do.
let taken: boolean[] = [];
const record = (e: MouseEvent) => {
  taken.push(e.defaultPrevented);
  e.preventDefault();
};
beforeEach(() => {
  history.replaceState(null, "", "/");
  taken = [];
  window.addEventListener("click", record);
});
afterEach(() => {
  window.removeEventListener("click", record);
  history.replaceState(null, "", "/");
});

describe("matchRoute", () => {
  it("maps every page's path, a run's page and anything else to not found", () => {
    expect(matchRoute("/")).toEqual({ page: "dashboard" });
    for (const p of ["connectors", "profiles", "mappings", "conflicts", "runs", "reports", "audit"]) expect(matchRoute(`/${p}`)).toEqual({ page: p });
    expect(matchRoute("/runs/")).toEqual({ page: "runs" });
    expect(matchRoute("/runs/01HX%20Z")).toEqual({ page: "run", runId: "01HX Z" });
    expect(matchRoute("/runs/a/b")).toEqual({ page: "not-found" });
    expect(matchRoute("/runs/%E0%A4%A")).toEqual({ page: "not-found" });
    expect(matchRoute("/nope")).toEqual({ page: "not-found" });
    expect(matchRoute("/Connectors")).toEqual({ page: "not-found" });
  });

  it("names the page in the title and puts a run under Runs", () => {
    expect(routeTitle({ page: "runs" })).toBe("Runs · Timebridge");
    expect(routeTitle({ page: "dashboard" })).toBe("Dashboard · Timebridge");
    expect(routeTitle({ page: "audit" })).toBe("Audit log · Timebridge");
    expect(routeTitle({ page: "run", runId: "r1" })).toBe("Run r1 · Timebridge");
    expect(routeTitle({ page: "not-found" })).toBe("Page not found · Timebridge");
    expect(navPage({ page: "run", runId: "r1" })).toBe("runs");
    expect(navPage({ page: "not-found" })).toBeNull();
  });
});

describe("link interception", () => {
  it("follows a plain same-origin link anywhere in the page without a reload, query string included", async () => {
    render(
      <Shell>
        <div dangerouslySetInnerHTML={{ __html: '<a href="/reports?profile=p1&amp;from=2026-11-01"><span>Report</span></a>' }} />
      </Shell>,
    );
    const pushes = vi.spyOn(history, "pushState");
    // The click lands on a child of the link.
    await userEvent.click(screen.getByText("Report"));
    expect(pushes).toHaveBeenCalledTimes(1);
    expect(location.pathname).toBe("/reports");
    expect(where()).toHaveAttribute("data-path", "/reports");
    expect(where()).toHaveAttribute("data-search", "?profile=p1&from=2026-11-01");
    expect(where()).toHaveAttribute("data-profile", "p1");
  });

  it("leaves modified clicks, other buttons, targets, downloads, other origins and handled clicks to the browser", () => {
    render(
      <Shell>
        <a href="/runs">runs</a>
        <a href="/runs" target="_blank">new tab</a>
        <a href="/audit.csv" download>
          download
        </a>
        <a href="https://example.com/x">elsewhere</a>
        <a href="//example.com/x">protocol-relative</a>
        <a href="#main">hash</a>
        <a href="/conflicts" onClick={(e) => e.preventDefault()}>
          handled
        </a>
      </Shell>,
    );
    const pushes = vi.spyOn(history, "pushState");
    const click = (name: string, init: MouseEventInit = {}) => {
      fireEvent.click(screen.getByText(name), { button: 0, ...init });
      return !taken[taken.length - 1];
    };
    for (const mod of ["metaKey", "ctrlKey", "shiftKey", "altKey"] as const) expect(click("runs", { [mod]: true })).toBe(true);
    // A middle click is an auxclick in browsers; a click event with button 1 is left alone too.
    expect(click("runs", { button: 1 })).toBe(true);
    expect(click("new tab")).toBe(true);
    expect(click("download")).toBe(true);
    expect(click("elsewhere")).toBe(true);
    expect(click("protocol-relative")).toBe(true);
    expect(click("hash")).toBe(true);
    // Handled by its own onClick: not navigated by the router.
    click("handled");
    expect(pushes).not.toHaveBeenCalled();
    expect(where()).toHaveAttribute("data-path", "/");
    // A plain click is taken (its default prevented).
    expect(click("runs")).toBe(false);
    expect(pushes).toHaveBeenCalledTimes(1);
    expect(where()).toHaveAttribute("data-path", "/runs");
  });

  it("stops intercepting when unmounted", () => {
    const { unmount } = render(<Shell />);
    unmount();
    render(<a href="/runs">runs</a>);
    const pushes = vi.spyOn(history, "pushState");
    fireEvent.click(screen.getByText("runs"));
    expect(taken).toEqual([false]);
    expect(pushes).not.toHaveBeenCalled();
  });

  it("<Link> navigates on its own (one push, even with the document listener)", async () => {
    render(
      <Shell>
        <Link to="/conflicts?profile=p2">Conflicts</Link>
      </Shell>,
    );
    const pushes = vi.spyOn(history, "pushState");
    await userEvent.click(screen.getByRole("link", { name: "Conflicts" }));
    expect(pushes).toHaveBeenCalledTimes(1);
    expect(where()).toHaveAttribute("data-path", "/conflicts");
    expect(where()).toHaveAttribute("data-profile", "p2");
  });
});

describe("popstate", () => {
  it("re-renders on back/forward and on another component's pushState + popstate", () => {
    render(<Shell />);
    // The other pages' way of navigating (the contract with RunPage, Reports, Runs).
    act(() => {
      history.pushState({}, "", "/runs/r42");
      window.dispatchEvent(new PopStateEvent("popstate"));
    });
    expect(where()).toHaveAttribute("data-path", "/runs/r42");
    act(() => {
      history.pushState({}, "", "/reports?profile=p1&from=2026-11-01");
      window.dispatchEvent(new PopStateEvent("popstate"));
    });
    expect(where()).toHaveAttribute("data-search", "?profile=p1&from=2026-11-01");
    // What the browser does on Back: the address changes, then popstate.
    act(() => {
      history.replaceState({}, "", "/runs/r42");
      window.dispatchEvent(new PopStateEvent("popstate"));
    });
    expect(where()).toHaveAttribute("data-path", "/runs/r42");
    expect(where()).toHaveAttribute("data-search", "");
  });

  it("navigate() pushes, replaces, does nothing for the current address", () => {
    render(<Shell />);
    const pushes = vi.spyOn(history, "pushState");
    const replaces = vi.spyOn(history, "replaceState");
    act(() => navigate("/audit"));
    expect(where()).toHaveAttribute("data-path", "/audit");
    act(() => navigate("/audit"));
    expect(pushes).toHaveBeenCalledTimes(1);
    act(() => navigate("/profiles?x=1", { replace: true }));
    expect(replaces).toHaveBeenCalledTimes(1);
    expect(pushes).toHaveBeenCalledTimes(1);
    expect(where()).toHaveAttribute("data-path", "/profiles");
    expect(where()).toHaveAttribute("data-search", "?x=1");
  });
});
