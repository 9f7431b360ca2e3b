// Package plan is the sync engine's pure core: from what Zammad holds, the
// stored links and conflicts, the Kimai catalog and what Kimai was observed
// to hold, it computes what Kimai should hold and the changes that get it
// there. Nothing here does I/O (TestImportsArePure keeps it so); the engine
// gathers the input and applies the plan.
//
// The steps, each table-tested on its own:
//
//   - Net applies Zammad's negative corrections to earlier entries.
//   - Lookup finds the Kimai customer, project, activity and user of an
//     entry in the catalog and mappings (or what would be auto-created).
//   - Desire turns one ticket's entries into desired timesheets, or
//     conflicts when an entry cannot be synced without a human.
//   - ClassifyLinks decides which stored links are in scope, which entries
//     vanished from Zammad and which pending creates must be settled.
//   - NeedsObservation names the timesheets whose Kimai state the plan
//     needs; Calculate turns desired state, links, conflicts and those
//     observations into a Plan of creates, updates, deletes and conflicts.
//   - OrphanCandidates and OrphanSearchFor plan the search for timesheets
//     whose links were lost, so that they are adopted, not created twice.
package plan
