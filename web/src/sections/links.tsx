// Links out to the ticket in Zammad and the timesheet in Kimai, from the
// base URLs of a profile's connectors. They open in a new tab; a ticket is
// named by its number as Zammad shows it ("#31021"), never by its internal id
// as if it were that number.
import { useConnectors, useProfiles } from "../queries";

/** The base URLs of a profile's Zammad and Kimai (absent while unknown). */
export interface ExternalBases {
  zammad?: string;
  kimai?: string;
}

const trim = (base: string) => base.replace(/\/+$/, "");

/** Zammad's ticket view: <base>/#ticket/zoom/<ticket id>. */
export function ticketUrl(zammadBase: string, ticketId: number): string {
  return `${trim(zammadBase)}/#ticket/zoom/${ticketId}`;
}

/** Kimai's timesheet edit page: <base>/timesheet/<id>/edit. */
export function timesheetUrl(kimaiBase: string, timesheetId: number): string {
  return `${trim(kimaiBase)}/timesheet/${timesheetId}/edit`;
}

/** "#31021" (the ticket number), or "ticket id 7" when Zammad's number is unknown. */
export function ticketText(t: { ticket_id: number; ticket_number?: string }): string {
  return t.ticket_number ? `#${t.ticket_number}` : `ticket id ${t.ticket_id}`;
}

/** The base URLs of each profile's connectors, from the (shared) connectors and profiles queries. */
export function useBasesOf(): (profileId: string | undefined) => ExternalBases {
  const connectors = useConnectors();
  const profiles = useProfiles();
  return (profileId) => {
    const p = profiles.data?.find((x) => x.id === profileId);
    if (!p) return {};
    const base = (id: string) => connectors.data?.find((c) => c.id === id)?.base_url;
    return { zammad: base(p.zammad_connector_id), kimai: base(p.kimai_connector_id) };
  };
}

/** The base URLs of one profile's connectors. */
export function useProfileBases(profileId: string | undefined): ExternalBases {
  return useBasesOf()(profileId);
}

/** A ticket by its number, linked to Zammad when its base URL is known. */
export function TicketRef({
  bases,
  ticket_id,
  ticket_number,
  capital = false,
}: {
  bases?: ExternalBases;
  ticket_id: number;
  ticket_number?: string;
  /** At the start of a sentence: "Ticket #31021" / "Ticket id 7". */
  capital?: boolean;
}) {
  const t = ticketText({ ticket_id, ticket_number });
  const text = !capital ? t : ticket_number ? `Ticket ${t}` : t.charAt(0).toUpperCase() + t.slice(1);
  if (!bases?.zammad) return <span className="nowrap">{text}</span>;
  return (
    <a
      className="nowrap"
      href={ticketUrl(bases.zammad, ticket_id)}
      target="_blank"
      rel="noopener noreferrer"
      data-testid="ticket-link"
      title={`Open ticket ${text} in Zammad (new tab)`}
    >
      {text}
      <span className="sr-only"> in Zammad (opens in a new tab)</span>
    </a>
  );
}

/** A Kimai timesheet "#123", linked to its edit page when Kimai's base URL is known. */
export function TimesheetRef({ bases, id }: { bases?: ExternalBases; id: number }) {
  if (!bases?.kimai) return <span className="nowrap">#{id}</span>;
  return (
    <a
      className="nowrap"
      href={timesheetUrl(bases.kimai, id)}
      target="_blank"
      rel="noopener noreferrer"
      data-testid="timesheet-link"
      title={`Open timesheet #${id} in Kimai (new tab)`}
    >
      #{id}
      <span className="sr-only"> in Kimai (opens in a new tab)</span>
    </a>
  );
}
