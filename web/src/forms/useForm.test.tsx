import { describe, expect, it, vi } from "vitest";
import { act, fireEvent, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { ApiError } from "../api/client";
import { schemaLimits } from "../api/limits";
import { CheckboxField, FormError, SelectField, SubmitButton, TextField } from "../ui";
import { renderWithProviders } from "../test/helpers";
import { useForm, type Form, type Problems } from "./useForm";
import { validateConnector, type ConnectorValues } from "../sections/Connectors";
import { profileValues, validateProfile } from "../sections/Profiles";
import { ConnectorForm } from "../sections/Connectors";

interface V {
  name: string;
  size: string;
  color: "red" | "blue";
  on: boolean;
}
interface Saved {
  id: string;
}

function TestForm({ send, validate = () => ({}) }: { send: (v: V) => Promise<Saved>; validate?: (v: V) => Problems<V> }) {
  const form = useForm({
    initial: (): V => ({ name: "", size: "1", color: "red", on: false }),
    validate,
    send,
    success: (s) => `Saved ${s.id}.`,
  });
  return (
    <form onSubmit={form.onSubmit} data-testid="test-form" noValidate>
      <TextField label="Name" {...form.text("name")} />
      <TextField label="Size" {...form.text("size")} />
      <SelectField label="Color" {...form.choice("color", ["red", "blue"])}>
        <option value="red">Red</option>
        <option value="blue">Blue</option>
        <option value="green">Green (not allowed)</option>
      </SelectField>
      <CheckboxField label="On" {...form.check("on")} />
      <FormError error={form.mutation.error} isError={form.mutation.isError} />
      <SubmitButton label="Save" pending={form.pending} />
    </form>
  );
}

const fieldsInvalid = (fields: Record<string, string>) =>
  Promise.reject(new ApiError(400, "validation_failed", "Some fields are invalid.", fields));

describe("useForm", () => {
  it("sends nothing while the client finds problems, shows each next to its field, and drops it when the field is edited", async () => {
    const send = vi.fn(async () => ({ id: "x" }));
    renderWithProviders(<TestForm send={send} validate={(v) => (v.name ? {} : { name: "Enter a name." })} />);
    await userEvent.click(screen.getByRole("button", { name: "Save" }));
    expect(screen.getByLabelText("Name")).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByLabelText("Name")).toHaveAccessibleDescription("Enter a name.");
    expect(screen.getByLabelText("Size")).not.toHaveAttribute("aria-invalid");
    expect(send).not.toHaveBeenCalled();
    await userEvent.type(screen.getByLabelText("Name"), "A");
    expect(screen.getByLabelText("Name")).not.toHaveAttribute("aria-invalid");
    await userEvent.click(screen.getByRole("button", { name: "Save" }));
    await waitFor(() => expect(send).toHaveBeenCalledTimes(1));
  });

  it("sends typed values: checkbox as boolean, select only among the allowed values", async () => {
    const send = vi.fn(async (_v: V) => ({ id: "x" }));
    renderWithProviders(<TestForm send={send} />);
    await userEvent.type(screen.getByLabelText("Name"), "Box");
    await userEvent.selectOptions(screen.getByLabelText("Color"), "blue");
    await userEvent.selectOptions(screen.getByLabelText("Color"), "green"); // not allowed: ignored
    await userEvent.click(screen.getByLabelText("On"));
    await userEvent.click(screen.getByRole("button", { name: "Save" }));
    await waitFor(() => expect(send).toHaveBeenCalledTimes(1));
    expect(send.mock.calls[0][0]).toEqual({ name: "Box", size: "1", color: "blue", on: true });
    expect(await screen.findByTestId("toast")).toHaveTextContent("Saved x.");
  });

  it("shows the server's field errors next to the fields they name; an edited field's error goes", async () => {
    const send = vi.fn(() => fieldsInvalid({ name: "is taken", size: "must be at most 3" }));
    renderWithProviders(<TestForm send={send} />);
    await userEvent.click(screen.getByRole("button", { name: "Save" }));
    await waitFor(() => expect(screen.getByLabelText("Name")).toHaveAccessibleDescription("is taken"));
    expect(screen.getByLabelText("Size")).toHaveAccessibleDescription("must be at most 3");
    expect(screen.getByLabelText("Color")).not.toHaveAttribute("aria-invalid");
    // Named fields: no form-level box, only the toast with the details.
    expect(screen.getByTestId("test-form").querySelector(".error-box")).toBeNull();
    expect(await screen.findByTestId("toast")).toHaveTextContent("Some fields are invalid. (name: is taken; size: must be at most 3)");
    await userEvent.type(screen.getByLabelText("Size"), "2");
    expect(screen.getByLabelText("Size")).not.toHaveAttribute("aria-invalid");
    expect(screen.getByLabelText("Size")).not.toHaveAccessibleDescription("must be at most 3");
    expect(screen.getByLabelText("Name")).toHaveAccessibleDescription("is taken");
  });

  it("shows a failure that names no field above the buttons", async () => {
    const send = vi.fn(() => Promise.reject(new ApiError(409, "conflict", "Someone else changed it; reload.")));
    renderWithProviders(<TestForm send={send} />);
    await userEvent.click(screen.getByRole("button", { name: "Save" }));
    const form = screen.getByTestId("test-form");
    await waitFor(() => expect(form.querySelector(".error-box")).toHaveTextContent("Someone else changed it; reload."));
    expect(screen.getByLabelText("Name")).not.toHaveAttribute("aria-invalid");
  });

  it("disables the submit button while the save is under way and sends once", async () => {
    let release: (s: Saved) => void = () => {};
    const send = vi.fn(() => new Promise<Saved>((r) => (release = r)));
    renderWithProviders(<TestForm send={send} />);
    await userEvent.click(screen.getByRole("button", { name: "Save" }));
    const busy = await screen.findByRole("button", { name: "Saving…" });
    expect(busy).toBeDisabled();
    fireEvent.submit(screen.getByTestId("test-form")); // e.g. Enter in a field
    expect(send).toHaveBeenCalledTimes(1);
    await act(async () => release({ id: "done" }));
    expect(await screen.findByRole("button", { name: "Save" })).toBeEnabled();
    expect(await screen.findByTestId("toast")).toHaveTextContent("Saved done.");
  });

  it("binds each field only to controls of its type (compile-time)", () => {
    const bindings = (form: Form<V, Saved>) => [
      form.text("name"),
      // @ts-expect-error: a boolean is a checkbox, not text
      form.text("on"),
      // @ts-expect-error: an enum is a choice among its values, not free text
      form.text("color"),
      // @ts-expect-error: not one of the field's values
      form.choice("color", ["green"]),
      // @ts-expect-error: text is not a checkbox
      form.check("name"),
      // @ts-expect-error: no such field
      form.text("nope"),
    ];
    expect(bindings).toBeTypeOf("function");
  });
});

describe("form checks use the API's limits (src/api/limits.gen.ts)", () => {
  const conn = (over: Partial<ConnectorValues>): ConnectorValues => ({
    kind: "zammad",
    name: "Helpdesk",
    base_url: "https://helpdesk.example.com",
    token: "t",
    ...over,
  });

  it("connector: name and token lengths", () => {
    const name = schemaLimits.ConnectorCreate.name.maxLength;
    expect(validateConnector(conn({ name: "n".repeat(name) }), true).name).toBeUndefined();
    expect(validateConnector(conn({ name: "n".repeat(name + 1) }), true).name).toBe(`Use at most ${name} characters.`);
    const token = schemaLimits.ConnectorCreate.token.maxLength;
    expect(validateConnector(conn({ token: "t".repeat(token) }), true).token).toBeUndefined();
    expect(validateConnector(conn({ token: "t".repeat(token + 1) }), true).token).toMatch(`at most ${token} characters`);
  });

  it("connector form: the name field's maxlength", () => {
    renderWithProviders(<ConnectorForm />);
    expect(screen.getByLabelText("Name")).toHaveAttribute("maxlength", String(schemaLimits.ConnectorCreate.name.maxLength));
  });

  it("profile: number ranges, tag count, tag length and pattern", () => {
    const ok = { ...profileValues(), name: "P", zammad_connector_id: "z", kimai_connector_id: "k" };
    expect(validateProfile(ok)).toEqual({ name: undefined });
    for (const k of ["interval_minutes", "deletion_window_days", "concurrency"] as const) {
      const { minimum, maximum } = schemaLimits.ProfileInput[k];
      expect(validateProfile({ ...ok, [k]: String(minimum) })[k]).toBeUndefined();
      expect(validateProfile({ ...ok, [k]: String(maximum) })[k]).toBeUndefined();
      expect(validateProfile({ ...ok, [k]: String(minimum - 1) })[k]).toContain(`${minimum} to ${maximum}`);
      expect(validateProfile({ ...ok, [k]: String(maximum + 1) })[k]).toContain(`${minimum} to ${maximum}`);
    }
    const tags = schemaLimits.ProfileInput.tags;
    const many = (n: number) => Array.from({ length: n }, (_, i) => `tag${i}`).join(", ");
    expect(validateProfile({ ...ok, tags: many(tags.maxItems) }).tags).toBeUndefined();
    expect(validateProfile({ ...ok, tags: many(tags.maxItems + 1) }).tags).toBe(`Use at most ${tags.maxItems} tags.`);
    expect(validateProfile({ ...ok, tags: "x".repeat(tags.items.maxLength) }).tags).toBeUndefined();
    expect(validateProfile({ ...ok, tags: "x".repeat(tags.items.maxLength + 1) }).tags).toContain(`${tags.items.maxLength} characters`);
    expect(validateProfile({ ...ok, tags: "x".repeat(tags.items.minLength - 1) }).tags).toContain(`${tags.items.minLength} to`);
    expect(validateProfile({ ...ok, tags: "a=b" }).tags).toMatch(/cannot contain/);
  });

  it("profile: a new form starts at the API's defaults", () => {
    const v = profileValues();
    const lim = schemaLimits.ProfileInput;
    expect(v).toMatchObject({
      minutes_per_unit: lim.minutes_per_unit.default,
      project_strategy: lim.project_strategy.default,
      user_mode: lim.user_mode.default,
      enabled: lim.enabled.default,
      interval_minutes: String(lim.interval_minutes.default),
      deletion_window_days: String(lim.deletion_window_days.default),
      concurrency: String(lim.concurrency.default),
    });
  });
});
