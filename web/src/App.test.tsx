import { describe, expect, it } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import { render } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { App } from "./App";
import { mockFetch, signIn } from "./test/helpers";

const empty = { body: { items: [], next_cursor: "" } };

describe("app shell", () => {
  it("signs in and shows every section with its exact heading", async () => {
    mockFetch({
      "POST /api/auth/login": { body: { token: "t", expires_at: new Date(Date.now() + 3600_000).toISOString() } },
      "GET /api/connectors": empty, "GET /api/profiles": empty, "GET /api/conflicts": empty, "GET /api/runs": empty, "GET /api/audit": empty,
    });
    render(<App />);
    expect(screen.getByRole("heading", { name: "Sign in to Timebridge" })).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText("Password"), "pw");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    await screen.findByTestId("nav");
    for (const h of ["Dashboard", "Connectors", "Profiles", "Mappings", "Conflicts", "Runs", "Audit log"])
      expect(screen.getByRole("heading", { level: 2, name: h })).toBeInTheDocument();
    for (const id of ["dashboard", "connectors", "profiles", "mappings", "conflicts", "runs", "audit"])
      expect(document.querySelector(`section#${id}[aria-labelledby]`)).not.toBeNull();
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
    mockFetch({ "GET /api/connectors": empty, "GET /api/profiles": empty, "GET /api/conflicts": empty, "GET /api/runs": empty, "GET /api/audit": empty });
    render(<App />);
    await userEvent.click(await screen.findByTestId("signout"));
    expect(screen.getByRole("heading", { name: "Sign in to Timebridge" })).toBeInTheDocument();
    expect(sessionStorage.getItem("timebridge.session")).toBeNull();
  });
});
