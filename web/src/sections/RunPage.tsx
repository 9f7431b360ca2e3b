import { Section } from "../ui";

// Placeholder: the run page (progress, outcomes, retry) replaces it.
export function RunPage({ runId }: { runId: string }) {
  return (
    <Section id="run" title={`Run ${runId}`}>
      <p className="muted">Run details are coming.</p>
    </Section>
  );
}
