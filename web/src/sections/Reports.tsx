import { Section } from "../ui";

// Placeholder: the Reports page (GET /api/profiles/{id}/report) replaces it.
export function Reports() {
  return (
    <Section id="reports" title="Reports">
      <p className="muted">Reports are coming.</p>
    </Section>
  );
}
