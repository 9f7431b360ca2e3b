// Package store persists Timebridge's state in a single DynamoDB table
// (on-demand capacity). It is the only package that knows the table layout.
//
// # Table
//
// Keys are strings: partition key "pk", sort key "sk". Two global secondary
// indexes, "gsi1" (keys "gsi1pk", "gsi1sk") and "gsi2" (keys "gsi2pk",
// "gsi2sk"), both with projection ALL, serve the few access patterns the
// base table cannot; only runs carry gsi2 keys. The number attribute
// "expires_at" (Unix seconds) is the table's TTL attribute. Every item also
// carries "type" (connector, profile, link, …) for humans and scans; an
// audit event's own type is therefore stored as "event_type". Other
// attributes are snake_case scalars; nested values (a link's baseline, a
// conflict's snapshots, a run's counts and errors) are JSON strings,
// decimals their string form.
//
// Numbers inside keys are zero-padded to 12 digits so that they sort
// numerically. Times inside keys and in attributes are UTC RFC 3339 with a
// fixed nine-digit fraction ("2025-01-02T03:04:05.000000000Z"): still valid
// RFC3339Nano, but, unlike time.RFC3339Nano's trimmed form, it sorts
// chronologically as a string ("…05Z" would sort after "…05.1Z").
//
//	item          pk                   sk                            gsi1pk                 gsi1sk
//	connector     CONNECTOR            <id>                          -                      -
//	profile       PROFILE              <id>                          -                      -
//	mapping       P#<pid>              MAP#<kind>#<source>           -                      -
//	link          P#<pid>              LINK#<entry>                  LT#<pid>#<ticket>      <entry>
//	day counter   SUM#<pid>            DAY#<yyyy-mm-dd>#<shard>      -                      -     (entries, seconds)
//	total counter SUM#<pid>            TOTAL#<shard>                 -                      -     (entries, seconds)
//	health        HEALTH#<pid>         HEALTH                        -                      -     (last_success, run_id)
//	ticket records REP#<pid>           T#<ticket>                    -                      -     (version, compressed records)
//	day records   REP#<pid>            D#<yyyy-mm-dd>                -                      -     (version, compressed records)
//	observed      REP#<pid>            OBSERVED                      -                      -     (observed_at)
//	cursor        P#<pid>              CURSOR                        -                      -
//	pending runs  P#<pid>              PENDING                       -                      -     (string set "runs")
//	conflict      P#<pid>              CONFLICT#<entry>              CONFLICTS#<status>     <pid>#<updated>#<entry>
//	run           RUN#<id>             RUN                           RUNS#<pid>             <queued>#<id>    (gsi2pk RUNS, gsi2sk <queued>#<id>)
//	run plan part RUN#<id>             PLAN#<gen>#<part>             -                      -     (gzip JSON: plan, preview, outcomes)
//	audit event   AUDIT#<pid or ->     <time>#<id>                   AUDIT                  <time>#<id>
//	delivery      DELIVERY#<id>        DELIVERY                      -                      -     (expires_at)
//	lease         LEASE#<name>         LEASE                         -                      -     (expires_at, not on fencing leases)
//	throttle slot SLOT#<name>          SLOT                          -                      -     (expires_at)
//	counter       COUNT#<name>         COUNT                         -                      -     (expires_at)
//	session       AUTH                 SESSION                       -                      -
//
// Access patterns:
//
//   - Connectors and profiles are few: one partition each, listed with one
//     strongly consistent Query.
//   - Everything the engine touches for one profile lives in partition
//     P#<pid>: mappings, links, the cursor and conflicts are each one
//     begins_with Query, and DeleteProfileData empties the partition.
//   - Links are keyed by entry alone, not by ticket and entry. An entry's
//     link is the exactly-once ledger (PutLink with expectVersion 0 is the
//     claim), so its key must not change when Zammad moves the entry to
//     another ticket (ticket merge); otherwise the same entry could be claimed
//     twice under two keys. One ticket's links are found through gsi1
//     (LinksByTicket). That read is eventually consistent, which is safe:
//     a link missed there is still protected by the conditional claim, which
//     then fails with apperr.Conflict.
//   - The summary (Summary) is what a profile holds in Kimai by the day
//     worked: counters of synced entries and seconds per day and in total,
//     in a partition of their own (SUM#<pid>: off the links' partition, and
//     a period's query reads counters only), sharded by entry id modulo 8 so
//     that a run's parallel writers rarely meet on one item. Every PutLink and DeleteLink changes them by the
//     difference between the stored link's tally (its "tally" attribute,
//     "<day>/<seconds>") and the new one, in the same transaction as the
//     link write and conditional on the stored version and tally, so the
//     counters change exactly when the links do (TransactionConflict is
//     retried with a fresh idempotency token). Summary reads the totals with
//     one BatchGetItem and a period's days with one Query, both strongly
//     consistent. DeleteProfileData empties this partition too.
//   - The reconciliation report reads entry records (EntryRecord): per
//     Zammad entry its netted time, what Timebridge wrote, what Kimai held
//     when last observed, its status and the names it is grouped by. They
//     are packed into two kinds of bucket items, each compressed (records_codec.go)
//     with a version: one per ticket (TicketRecords: one GetItem for the
//     engine's bookkeeping and the billed tag) and one per day worked
//     (RecordsByDay: a period's report is one Query of a few items, not one
//     item per entry; 10,000 entries over a year are 366 items). Writers
//     read, change and put a bucket conditional on its version; day buckets
//     are written before ticket buckets, which the next run compares with.
//     The engine rewrites only records whose content changed; OBSERVED is
//     when it last read Kimai's modified timesheets.
//   - A profile's health item holds the end of its latest successful run
//     (RecordSuccess, never moved back) and its open conflicts as counted
//     after its latest run (RecordOpenConflicts, never replaced by an older
//     count); the scheduler reads them for every enabled profile with one
//     BatchGetItem (Health) to publish how stale each profile is and how
//     many conflicts it has open, with access to nothing else of the
//     profile.
//   - Conflicts: one item per entry (ConflictID), gsi1 lists them by status
//     across profiles.
//   - Runs are addressed by id alone; gsi1 lists a profile's runs newest
//     first (ListRuns), gsi2's single partition RUNS lists every profile's
//     runs newest first (ListAllRuns), with the same kind of cursor. Both
//     indexes' keys are written with the run item on every PutRun (MarkMerged
//     changes none of them). Runs written before gsi2 existed lack its keys
//     and are missing from ListAllRuns until they are written again; they
//     stay in their profile's ListRuns. As with the audit log, the single
//     partition limits run writes to about 1,000 per second, far above the
//     rate at which runs are queued and finished. A dry run's plan and its
//     preview can exceed DynamoDB's 400 KB item limit, so they are stored
//     gzip-compressed (one JSON object {preview, changes}; plans written
//     before previews existed are a bare array and still read) in "plan
//     part" items under the run's partition; a new generation is written
//     before the run item points to it and the old one is deleted afterwards,
//     so readers never see a half plan. ListRuns returns runs without plan
//     and preview; GetRun includes both.
//   - Audit events: one partition per profile (base table, newest first) and
//     one global gsi1 partition for the cross-profile log. Before/After are
//     stored as JSON strings and come back as json.RawMessage. With
//     WithAuditRetention, events carry expires_at and DynamoDB deletes them.
//     The single global gsi1 partition limits the audit log to about 1,000
//     writes per second, far above what the Kimai API allows the engine.
//   - Webhook deliveries, throttle slots and the scheduler's leases expire
//     through expires_at; because TTL deletion is lazy (up to days),
//     conditions also treat an item whose expiry has passed as absent.
//   - A profile's run lease (TakeLease/EndLease) is never deleted and has no
//     expires_at: its "gen" attribute, bumped on every takeover, is the
//     fencing token runs write into each link ("fence"), and a deleted item
//     would restart it. PutLink refuses a write whose fence is older than
//     the stored one.
//   - Counters (AddCount, Counts) are atomic ADDs shared by every function
//     instance: the login brake's failed-login counts. Callers put their
//     time window into the name, so a counter is never reused once its
//     window has passed; Counts treats an expired one as 0.
//   - The admin's session state (SessionState) is one item, read with one
//     GetItem per API request: the session version, which
//     BumpSessionVersion (sign out everywhere) increments, and the string
//     set of recently revoked token ids with their expiry, which
//     RevokeToken adds to and prunes.
//   - Throttle slots (ClaimSlot) hold the latest claimed slot number of a
//     name (the webhook's per-ticket throttle); a slot is claimed at most
//     once because the condition requires a smaller stored one.
//
// # Consistency rules
//
// Uniqueness and versions are enforced with condition expressions, never by
// reading first: Create* use attribute_not_exists, Update*/Delete* and the
// versioned Put* compare the stored "version". A failed condition is
// apperr.Conflict; a missing item is apperr.NotFound. Base-table reads are
// strongly consistent; index reads (LinksByTicket, cross-profile conflicts,
// ListRuns, ListAllRuns, the global audit log) are eventually consistent.
//
// # Deleting a profile
//
// DeleteProfile deletes the profile item (version-checked) and then calls
// DeleteProfileData, which removes the profile's partition (mappings, links,
// cursor, conflicts), its summary partition, its health item and its runs
// with their plans, in batches. Audit events are kept: they are the history
// of what Timebridge did (they expire only through the audit retention).
// DeleteProfileData is idempotent; if it fails
// DeleteProfile reports an error saying so, and calling DeleteProfileData
// again finishes the job. A sync run racing with the deletion may write a few
// items after the purge; the engine should check that its profile still
// exists when a run starts and ends.
package store
