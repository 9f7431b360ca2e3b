// Query keys per resource, and the hooks that read them. Mutations invalidate
// exactly the keys of the resources they change.
import { queryOptions, useQuery } from "@tanstack/react-query";
import { api, type ConflictStatus } from "./api/client";

export const keys = {
  connectors: ["connectors"] as const,
  catalog: (id: string) => ["connectors", id, "catalog"] as const,
  profiles: ["profiles"] as const,
  mappings: (profileId: string) => ["profiles", profileId, "mappings"] as const,
  runs: ["runs"] as const,
  runsFor: (profileId: string) => ["runs", "list", profileId] as const,
  run: (id: string) => ["runs", "one", id] as const,
  conflicts: ["conflicts"] as const,
  conflictsBy: (status: ConflictStatus) => ["conflicts", status] as const,
  audit: ["audit"] as const,
  auditView: (f: object) => ["audit", "view", f] as const,
  summary: ["summary"] as const,
  summaryOf: (profileId: string, from: string, to: string) => ["summary", profileId, from, to] as const,
};

export const useConnectors = () => useQuery({ queryKey: keys.connectors, queryFn: api.listConnectors });
export const useProfiles = () => useQuery({ queryKey: keys.profiles, queryFn: api.listProfiles });
export const useConflicts = (status: ConflictStatus) =>
  useQuery({ queryKey: keys.conflictsBy(status), queryFn: () => api.listConflicts({ status }) });
/** A profile's latest runs (50, newest first); shared by the dashboard and the setup guide. */
export const runsForOptions = (profileId: string) =>
  queryOptions({
    queryKey: keys.runsFor(profileId),
    queryFn: () => api.listRuns({ profile_id: profileId, limit: 50 }).then((r) => r.items),
    // Keep the dashboard live while a run is queued or running.
    refetchInterval: (q) =>
      q.state.data?.some((r) => r.status === "queued" || r.status === "running") ? 2000 : 30000,
  });
export const useRunsFor = (profileId: string) => useQuery(runsForOptions(profileId));

/** A connector's catalog (Zammad: types, organizations, agents, groups; Kimai: customers, projects, activities, users). */
export const useCatalog = (connectorId: string | undefined) =>
  useQuery({
    queryKey: keys.catalog(connectorId ?? ""),
    queryFn: () => api.catalog(connectorId ?? ""),
    enabled: !!connectorId,
    staleTime: 60_000,
  });

/** A profile's summary (what it holds in Kimai by the day worked) for a
 * period; polled every 2 s while live (a run of the profile is active). */
export const useSummary = (profileId: string, from: string, to: string, live: boolean) =>
  useQuery({
    queryKey: keys.summaryOf(profileId, from, to),
    queryFn: () => api.getSummary(profileId, { from, to }),
    refetchInterval: live ? 2000 : 60_000,
  });
