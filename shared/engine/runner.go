package engine

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/kimai"
	tb "github.com/timebridge/timebridge/shared/timebridge"
	"github.com/timebridge/timebridge/shared/zammad"
)

// runner holds the state of one run.
type runner struct {
	e   *Engine
	req Request
	run tb.Run
	log *slog.Logger

	profile  tb.Profile
	z        ZammadAPI
	k        KimaiAPI
	loc      *time.Location
	instance string
	catalog  *Catalog
	names    Names
	mappings Mappings

	mu         sync.Mutex
	counts     tb.Counts
	itemErrors []tb.ItemError
	audit      []tb.AuditEvent
	// strays are pending links of entries outside a full run's window.
	strays []tb.Link
	// fence is the lease generation this run holds; every link it writes
	// carries it (see store.PutLink).
	fence int64
	// failedUpdatedAt is the oldest updated_at of an entry that failed, so
	// the incremental cursor never moves past it.
	failedUpdatedAt time.Time
}

// ticketData is one ticket with all its entries.
type ticketData struct {
	ticket  Ticket
	entries []Entry
	gone    bool // the ticket no longer exists in Zammad
}

func (r *runner) execute(ctx context.Context) error {
	p, err := r.e.store.GetProfile(ctx, r.req.ProfileID)
	if err != nil {
		return fmt.Errorf("engine: load profile %s: %w", r.req.ProfileID, err)
	}
	r.profile = p.WithDefaults()
	if r.profile.ZammadConnectorID == "" || r.profile.KimaiConnectorID == "" {
		return apperr.New(apperr.Validation, "engine: run", "The profile needs a Zammad and a Kimai connector.")
	}
	r.z, r.k, err = r.e.connect.Connect(ctx, r.profile)
	if err != nil {
		return fmt.Errorf("engine: connect profile %s: %w", r.profile.ID, err)
	}
	r.instance = r.z.Instance()

	me, err := r.k.Me(ctx)
	if err != nil {
		return fmt.Errorf("engine: kimai user: %w", err)
	}
	if r.loc, err = me.Zone(); err != nil {
		// Never fall back to UTC: every entry would land at the wrong hour.
		return fmt.Errorf("engine: kimai user: %w", err)
	}

	tickets, scanned, newest, err := r.gather(ctx)
	if err != nil {
		return err
	}
	if err := r.loadContext(ctx, tickets); err != nil {
		return err
	}
	if !r.req.DryRun {
		if err := r.ensureCatalog(ctx, tickets); err != nil {
			return err
		}
		if err := r.k.EnsureTags(ctx, r.profile.Tags); err != nil {
			return fmt.Errorf("engine: ensure tags: %w", err)
		}
	}

	in, err := r.planInput(ctx, tickets, scanned)
	if err != nil {
		return err
	}
	plan := Calculate(in)

	if r.req.DryRun {
		r.recordPreview(plan)
		return nil
	}
	r.apply(ctx, plan)
	if ctx.Err() != nil {
		// Cut off by the deadline: fail the run as a timeout so the queue
		// retries it (a re-run is cheap: finished entries are unchanged).
		// A range backfill would otherwise never pick up the rest.
		return apperr.Wrap(ctx.Err(), apperr.Timeout, "engine: apply",
			"The run ran out of time before finishing; it is retried and continues where it stopped.")
	}
	if r.req.Mode == tb.ModeIncremental {
		r.advanceCursor(ctx, newest)
	}
	return nil
}

// gather reads the Zammad entries the run covers, grouped by ticket with
// every entry of each ticket (netting needs the whole ticket). scanned
// reports whether the deletion scope is known: the set of all entry ids
// (full runs) or the one ticket's (ticket runs).
func (r *runner) gather(ctx context.Context) (tickets map[int64]*ticketData, scanned map[int64]bool, newest time.Time, err error) {
	now := r.e.now()
	window := now.AddDate(0, 0, -r.profile.DeletionWindowDays)
	switch r.req.Mode {
	case tb.ModeTicket:
		tickets, err = r.fetchTickets(ctx, r.req.tickets(), nil)
		return tickets, nil, time.Time{}, err

	case tb.ModeIncremental:
		since := window
		cur, ok, err := r.e.store.GetCursor(ctx, r.profile.ID)
		if err != nil {
			return nil, nil, time.Time{}, fmt.Errorf("engine: load cursor: %w", err)
		}
		if ok && !cur.UpdatedAt.IsZero() {
			since = cur.UpdatedAt.Add(-r.e.opts.Overlap)
		}
		changed := map[int64]bool{}
		err = r.z.ListEntries(ctx, zammad.ListEntriesOptions{SortBy: "updated_at", OrderBy: "desc", PerPage: r.e.opts.ScanPageSize},
			func(page []zammad.Entry) (bool, error) {
				more := true
				for _, e := range page {
					if e.UpdatedAt.Before(since) {
						more = false
						continue
					}
					changed[e.TicketID] = true
					if e.UpdatedAt.After(newest) {
						newest = e.UpdatedAt
					}
				}
				return more, nil
			})
		if err != nil {
			return nil, nil, time.Time{}, fmt.Errorf("engine: scan zammad entries: %w", err)
		}
		ids := keys(changed)
		tickets, err = r.fetchTickets(ctx, ids, nil)
		return tickets, nil, newest, err

	case tb.ModeFull, tb.ModeRange:
		all := map[int64][]Entry{}
		scanned = map[int64]bool{}
		err = r.z.ListEntries(ctx, zammad.ListEntriesOptions{SortBy: "id", OrderBy: "asc", PerPage: r.e.opts.ScanPageSize},
			func(page []zammad.Entry) (bool, error) {
				for _, e := range page {
					scanned[e.ID] = true
					all[e.TicketID] = append(all[e.TicketID], fromZammad(e))
				}
				return true, nil
			})
		if err != nil {
			return nil, nil, time.Time{}, fmt.Errorf("engine: list zammad entries: %w", err)
		}
		from, to := window, now.Add(24*time.Hour)
		if r.req.Mode == tb.ModeRange {
			from, to = r.req.From, r.req.To
		}
		var ids []int64
		for tid, es := range all {
			for _, e := range es {
				if !e.CreatedAt.Before(from) && e.CreatedAt.Before(to) {
					ids = append(ids, tid)
					break
				}
			}
		}
		if r.req.Mode == tb.ModeRange {
			scanned = nil // a backfill never deletes
		}
		tickets, err = r.fetchTickets(ctx, ids, all)
		return tickets, scanned, time.Time{}, err
	}
	return nil, nil, time.Time{}, apperr.New(apperr.Validation, "engine: run", "unknown mode")
}

// fetchTickets loads tickets (and, unless known, their entries) with
// bounded concurrency. A ticket Zammad no longer has is marked gone.
func (r *runner) fetchTickets(ctx context.Context, ids []int64, known map[int64][]Entry) (map[int64]*ticketData, error) {
	slices.Sort(ids)
	out := make(map[int64]*ticketData, len(ids))
	var mu sync.Mutex
	err := forEach(ctx, r.e.opts.ReadConcurrency, ids, func(ctx context.Context, id int64) error {
		t, err := r.z.Ticket(ctx, id)
		if apperr.Is(err, apperr.NotFound) {
			// 404 means deleted, or not visible to the token's user. Only
			// call it gone (its timesheets are then deleted) when its
			// entries are gone too, as seen by the admin-level list.
			scanned, inScan := known[id]
			hasEntries := len(scanned) > 0
			if !inScan {
				zs, eerr := r.z.TicketEntries(ctx, id)
				if eerr != nil && !apperr.Is(eerr, apperr.NotFound) {
					return fmt.Errorf("engine: zammad ticket %d entries: %w", id, eerr)
				}
				hasEntries = len(zs) > 0
			}
			if hasEntries {
				r.itemError(0, time.Time{}, apperr.Wrap(err, apperr.Permission, fmt.Sprintf("engine: zammad ticket %d", id),
					fmt.Sprintf("Zammad ticket %d has time entries but the token's user cannot read the ticket; give it access to all groups.", id)))
				return nil
			}
			mu.Lock()
			out[id] = &ticketData{ticket: Ticket{ID: id}, gone: true}
			mu.Unlock()
			return nil
		}
		if err != nil {
			return fmt.Errorf("engine: zammad ticket %d: %w", id, err)
		}
		entries, ok := known[id]
		if !ok {
			// The ticket exists, so a 404 for its entries is not "no entries".
			zs, err := r.z.TicketEntries(ctx, id)
			if err != nil {
				return fmt.Errorf("engine: zammad ticket %d entries: %w", id, err)
			}
			for _, e := range zs {
				entries = append(entries, fromZammad(e))
			}
		}
		td := &ticketData{ticket: Ticket{ID: t.ID, Number: t.Number, Title: t.Title, OrgID: t.OrganizationID, GroupID: t.GroupID}, entries: entries}
		mu.Lock()
		out[id] = td
		mu.Unlock()
		return nil
	})
	return out, err
}

func fromZammad(e zammad.Entry) Entry {
	return Entry{ID: e.ID, TicketID: e.TicketID, Units: e.TimeUnit, TypeID: e.TypeID, AgentID: e.CreatedByID,
		CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC()}
}

// loadContext loads mappings, the Kimai catalog and the Zammad names the
// run needs, once.
func (r *runner) loadContext(ctx context.Context, tickets map[int64]*ticketData) error {
	ms, err := r.e.store.Mappings(ctx, r.profile.ID)
	if err != nil {
		return fmt.Errorf("engine: load mappings: %w", err)
	}
	r.mappings = NewMappings(ms)
	r.names = Names{Orgs: map[int64]string{}, Groups: map[int64]string{}, Types: map[int64]string{}, Agents: map[int64]Agent{}}

	cat := &Catalog{}
	custs, err := r.k.Customers(ctx)
	if err != nil {
		return fmt.Errorf("engine: kimai customers: %w", err)
	}
	for _, c := range custs {
		cat.Customers = append(cat.Customers, customerFrom(c))
	}
	projs, err := r.k.Projects(ctx)
	if err != nil {
		return fmt.Errorf("engine: kimai projects: %w", err)
	}
	for _, p := range projs {
		cat.Projects = append(cat.Projects, projectFrom(p))
	}
	acts, err := r.k.Activities(ctx)
	if err != nil {
		return fmt.Errorf("engine: kimai activities: %w", err)
	}
	for _, a := range acts {
		cat.Activities = append(cat.Activities, activityFrom(a))
	}
	if r.profile.UserMode == tb.UserEmail || r.profile.UserMode == tb.UserExplicit {
		users, err := r.k.Users(ctx)
		if err != nil && !(r.profile.UserMode == tb.UserExplicit && apperr.Is(err, apperr.Permission)) {
			return fmt.Errorf("engine: kimai users (needs view_user for user mapping by email): %w", err)
		}
		for _, u := range users {
			cat.Users = append(cat.Users, KimaiUser{ID: u.ID, Username: u.Username, Email: u.Email, Enabled: u.Enabled})
		}
		// Agents' emails, fetched once per distinct agent.
		agents := map[int64]bool{}
		for _, td := range tickets {
			for _, e := range td.entries {
				agents[e.AgentID] = true
			}
		}
		var mu sync.Mutex
		err = forEach(ctx, r.e.opts.ReadConcurrency, keys(agents), func(ctx context.Context, id int64) error {
			u, err := r.z.User(ctx, id)
			if apperr.Is(err, apperr.NotFound) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("engine: zammad user %d: %w", id, err)
			}
			mu.Lock()
			r.names.Agents[id] = Agent{ID: id, Name: u.FullName(), Email: u.Email}
			mu.Unlock()
			return nil
		})
		if err != nil {
			return err
		}
	}
	r.catalog = cat

	// Type names make conflicts and auto-created activities readable; a
	// token without admin.time_accounting can't read them, which is fine.
	if types, err := r.z.Types(ctx); err == nil {
		for _, t := range types {
			r.names.Types[t.ID] = t.Name
		}
	} else if !apperr.Is(err, apperr.Permission) && !apperr.Is(err, apperr.NotFound) {
		return fmt.Errorf("engine: zammad types: %w", err)
	}
	if r.profile.ProjectStrategy == tb.ProjectPerGroup {
		groups, err := r.z.Groups(ctx)
		if err != nil {
			return fmt.Errorf("engine: zammad groups: %w", err)
		}
		for _, g := range groups {
			r.names.Groups[g.ID] = g.Name
		}
	}
	return nil
}

func (r *runner) resolver() *Resolver {
	return &Resolver{Profile: r.profile, Catalog: r.catalog, Mappings: r.mappings, Names: r.names}
}

// ensureCatalog auto-creates the customers, projects and activities the
// run's tickets need (where the profile allows it), customers first since
// projects belong to them. Creation is sequential and audited.
func (r *runner) ensureCatalog(ctx context.Context, tickets map[int64]*ticketData) error {
	ids := keys(tickets)
	res := r.resolver()
	// Customers: fetch the names of organizations about to be created.
	orgs := map[int64]bool{}
	for _, id := range ids {
		td := tickets[id]
		if td.gone || len(td.entries) == 0 {
			continue
		}
		if c := res.Customer(td.ticket.OrgID); c.Create != nil && td.ticket.OrgID != 0 {
			orgs[td.ticket.OrgID] = true
		}
	}
	for _, oid := range keys(orgs) {
		o, err := r.z.Organization(ctx, oid)
		if err != nil {
			if apperr.Is(err, apperr.NotFound) || apperr.Is(err, apperr.Permission) {
				continue // created under a fallback name
			}
			return fmt.Errorf("engine: zammad organization %d: %w", oid, err)
		}
		r.names.Orgs[oid] = o.Name
	}
	created := map[string]bool{}
	for _, id := range ids {
		td := tickets[id]
		if td.gone || len(td.entries) == 0 {
			continue
		}
		c := res.Customer(td.ticket.OrgID)
		if c.Create != nil && !created[c.Create.Number] {
			created[c.Create.Number] = true
			if err := r.create(ctx, *c.Create); err != nil {
				return err
			}
		}
		c = res.Customer(td.ticket.OrgID)
		if c.ID == 0 {
			continue
		}
		p := res.Project(td.ticket, c.ID)
		if p.Create != nil && !created[p.Create.Number] {
			created[p.Create.Number] = true
			if err := r.create(ctx, *p.Create); err != nil {
				return err
			}
		}
		types := map[int64]bool{}
		for _, e := range td.entries {
			types[e.TypeID] = true
		}
		for _, typ := range keys(types) {
			a := res.Activity(typ)
			if a.Create != nil && !created[a.Create.Number] {
				created[a.Create.Number] = true
				if err := r.create(ctx, *a.Create); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// create makes one catalog entity. A validation failure (e.g. the number is
// taken by an entity the token can't see) is not fatal: the entries that
// need it become unmapped_* conflicts naming the problem.
func (r *runner) create(ctx context.Context, spec CreateSpec) error {
	var after any
	var err error
	switch spec.Kind {
	case tb.MapCustomer:
		var c kimai.Customer
		c, err = r.k.CreateCustomer(ctx, kimai.CustomerInput{Name: spec.Name, Number: spec.Number, Timezone: r.loc.String()})
		if err == nil {
			r.catalog.AddCustomer(customerFrom(c))
			after = c
		}
	case tb.MapProject:
		var p kimai.Project
		p, err = r.k.CreateProject(ctx, kimai.ProjectInput{Name: spec.Name, Number: spec.Number, CustomerID: spec.CustomerID})
		if err == nil {
			r.catalog.AddProject(projectFrom(p))
			after = p
		}
	case tb.MapActivity:
		var a kimai.Activity
		a, err = r.k.CreateActivity(ctx, kimai.ActivityInput{Name: spec.Name, Number: spec.Number})
		if err == nil {
			r.catalog.AddActivity(activityFrom(a))
			after = a
		}
	}
	if err != nil {
		if apperr.Is(err, apperr.Validation) || apperr.Is(err, apperr.Permission) {
			r.itemError(0, time.Time{}, fmt.Errorf("engine: auto-create %s %q: %w", spec.Kind, spec.Name, err))
			return nil
		}
		return fmt.Errorf("engine: auto-create %s %q: %w", spec.Kind, spec.Name, err)
	}
	r.addAudit(tb.AuditEvent{Type: "catalog." + string(spec.Kind) + "_created", Subject: fmt.Sprintf("%s %s", spec.Kind, spec.Number),
		Message: fmt.Sprintf("Created Kimai %s %q (%s)", spec.Kind, spec.Name, spec.Number), After: after})
	return nil
}

// planInput assembles desired state, links, conflicts, recovered pending
// records and Kimai observations.
func (r *runner) planInput(ctx context.Context, tickets map[int64]*ticketData, scanned map[int64]bool) (PlanInput, error) {
	in := PlanInput{Links: map[int64]tb.Link{}, Conflicts: map[int64]tb.Conflict{}, Observed: map[int64]Observation{}, Force: r.req.force}
	res := r.resolver()
	ids := keys(tickets)

	// Every stored link the run may act on: all of the profile's in a full
	// run (deletions are found among them), else those of the tickets in
	// scope.
	var all []tb.Link
	if scanned != nil {
		err := r.e.store.Links(ctx, r.profile.ID, func(ls []tb.Link) error {
			all = append(all, ls...)
			return nil
		})
		if err != nil {
			return in, fmt.Errorf("engine: load links: %w", err)
		}
	} else {
		var mu sync.Mutex
		err := forEach(ctx, r.e.opts.ReadConcurrency, ids, func(ctx context.Context, tid int64) error {
			ls, err := r.e.store.LinksByTicket(ctx, r.profile.ID, tid)
			if err != nil {
				return fmt.Errorf("engine: load links of ticket %d: %w", tid, err)
			}
			mu.Lock()
			all = append(all, ls...)
			mu.Unlock()
			return nil
		})
		if err != nil {
			return in, err
		}
	}
	byEntry := make(map[int64]tb.Link, len(all))
	for _, l := range all {
		byEntry[l.EntryID] = l
	}

	desire := func(td *ticketData) []Desired {
		return Desire(DesireInput{Profile: r.profile, Instance: r.instance, Location: r.loc, Ticket: td.ticket,
			Entries: td.entries, Resolver: res, DryRun: r.req.DryRun})
	}
	if r.req.Mode == tb.ModeFull || r.req.Mode == tb.ModeRange {
		if err := r.rereadUnsettled(ctx, tickets, byEntry, desire); err != nil {
			return in, err
		}
		ids = keys(tickets)
	}

	present := map[int64]bool{}
	for _, id := range ids {
		td := tickets[id]
		if td.gone {
			continue
		}
		ds := desire(td)
		for _, d := range ds {
			present[d.Entry.ID] = true
		}
		in.Desired = append(in.Desired, ds...)
	}
	r.counts.Seen = len(in.Desired)

	// Links of the entries in scope, plus the vanished ones.
	var vanished []tb.Link
	for _, l := range all {
		if present[l.EntryID] {
			in.Links[l.EntryID] = l
		}
	}
	if scanned != nil { // full run: every link of the profile
		window := r.e.now().AddDate(0, 0, -r.profile.DeletionWindowDays)
		for _, l := range all {
			switch {
			case !scanned[l.EntryID] && !l.EntryCreatedAt.Before(window):
				vanished = append(vanished, l)
			case scanned[l.EntryID] && !present[l.EntryID] && l.State == tb.LinkPending:
				// A create left unsettled for an entry outside this
				// run's window: settle it too, or it would wait for ever.
				r.strays = append(r.strays, l)
			}
		}
	} else {
		for _, l := range all {
			// A one-ticket run knows all entries of its ticket, so a link
			// without an entry there has vanished. Other modes only do so
			// for tickets Zammad no longer has at all.
			td := tickets[l.TicketID]
			if td != nil && (r.req.Mode == tb.ModeTicket || td.gone) && !present[l.EntryID] {
				vanished = append(vanished, l)
			}
		}
	}
	if scanned != nil && len(vanished) > 0 {
		// Offset-paged lists can skip a row when another is deleted during
		// the scan: confirm each vanished entry against its ticket before
		// deleting anything.
		confirmed, err := r.confirmVanished(ctx, vanished)
		if err != nil {
			return in, err
		}
		vanished = confirmed
	}
	in.Vanished = vanished

	if scanned == nil {
		if err := r.refreshLinks(ctx, &in); err != nil {
			return in, err
		}
	}

	conflicts, err := r.e.store.ListConflicts(ctx, r.profile.ID, tb.ConflictOpen)
	if err != nil {
		return in, fmt.Errorf("engine: load conflicts: %w", err)
	}
	for _, c := range conflicts {
		in.Conflicts[c.EntryID] = c
	}

	if !r.req.DryRun {
		if err := r.recoverPending(ctx, &in); err != nil {
			return in, err
		}
	}

	covered := func(Desired) bool { return false }
	if r.req.Mode == tb.ModeFull {
		from := r.e.now().AddDate(0, 0, -r.profile.DeletionWindowDays-1)
		if err := r.observeKimai(ctx, &in, from); err != nil {
			return in, err
		}
		covered = func(d Desired) bool { return d.Sheet.Begin.After(from.Add(orphanMargin)) }
	}
	if !r.req.DryRun {
		if err := r.findOrphans(ctx, &in, covered); err != nil {
			return in, err
		}
	}

	// What a listing already showed (full runs, adopted orphans) needs no
	// second read.
	need := slices.DeleteFunc(NeedsObservation(in), func(id int64) bool { _, ok := in.Observed[id]; return ok })
	var mu sync.Mutex
	err = forEach(ctx, r.e.opts.ReadConcurrency, need, func(ctx context.Context, id int64) error {
		obs, err := r.observe(ctx, id)
		if err != nil {
			return err
		}
		mu.Lock()
		in.Observed[id] = obs
		mu.Unlock()
		return nil
	})
	if err != nil {
		return in, err
	}
	sort.Slice(in.Vanished, func(i, j int) bool { return in.Vanished[i].EntryID < in.Vanished[j].EntryID })
	return in, nil
}

// rereadUnsettled re-reads, from the ticket itself, the entries of every
// ticket the run would act on. Full and range runs take entries from one
// offset-paged list of all entries, and a row deleted in Zammad during that
// scan shifts another onto a page already read: its ticket would be netted
// from incomplete data (an unchanged timesheet rewritten or deleted, a false
// unmatched_negative). A ticket whose every entry already matches its link
// is left alone, so an unchanged re-run costs no extra reads; a ticket that
// vanished meanwhile is left to the next run.
func (r *runner) rereadUnsettled(ctx context.Context, tickets map[int64]*ticketData, links map[int64]tb.Link, desire func(*ticketData) []Desired) error {
	var todo []int64
	for _, id := range keys(tickets) {
		td := tickets[id]
		if td.gone {
			continue
		}
		for _, d := range desire(td) {
			if !settled(d, links[d.Entry.ID]) {
				todo = append(todo, id)
				break
			}
		}
	}
	var mu sync.Mutex
	return forEach(ctx, r.e.opts.ReadConcurrency, todo, func(ctx context.Context, id int64) error {
		zs, err := r.z.TicketEntries(ctx, id)
		mu.Lock()
		defer mu.Unlock()
		if apperr.Is(err, apperr.NotFound) {
			delete(tickets, id)
			return nil
		}
		if err != nil {
			return fmt.Errorf("engine: zammad ticket %d entries: %w", id, err)
		}
		entries := make([]Entry, 0, len(zs))
		for _, e := range zs {
			entries = append(entries, fromZammad(e))
		}
		tickets[id].entries = entries
		return nil
	})
}

// settled reports whether an entry needs nothing: its link already records
// exactly this desired state. A missing link is settled only when no
// timesheet is wanted and nothing is wrong.
func settled(d Desired, l tb.Link) bool {
	if d.Conflict != nil {
		// Netting conflicts depend on the ticket's other entries; the
		// others (unmapped keys) only on the entry itself.
		return d.Conflict.Kind != tb.ConflictUnmatchedNegative
	}
	switch l.State {
	case tb.LinkSynced:
		return d.Sheet != nil && d.Hash == l.SourceHash
	case tb.LinkSkipped:
		return true
	case tb.LinkNone:
		return d.Sheet == nil || l.SourceHash == d.Hash
	case "":
		return d.Sheet == nil
	}
	return false
}

// recoverPending settles pending links left by a run that crashed or lost
// Kimai's answer: the lease guarantees no other run of this profile is
// active, so no pending link belongs to a live run, but its request may
// still be running in Kimai. Kimai is searched for the entry's marker; one
// match is adopted, two or more are a duplicate conflict, and none clears
// the claim only once it is older than PendingGrace.
func (r *runner) recoverPending(ctx context.Context, in *PlanInput) error {
	var pending []tb.Link
	for _, l := range in.Links {
		if l.State == tb.LinkPending {
			pending = append(pending, l)
		}
	}
	for _, l := range in.Vanished {
		if l.State == tb.LinkPending {
			pending = append(pending, l)
		}
	}
	for _, l := range r.strays {
		found, err := r.searchMarker(ctx, l.EntryID)
		if err != nil {
			return fmt.Errorf("engine: recover pending entry %d: %w", l.EntryID, err)
		}
		if _, _, err := r.settlePending(ctx, l, found); err != nil {
			r.itemError(l.EntryID, time.Time{}, err)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	sort.Slice(pending, func(i, j int) bool { return pending[i].EntryID < pending[j].EntryID })
	var mu sync.Mutex
	return forEach(ctx, r.e.opts.ReadConcurrency, pending, func(ctx context.Context, l tb.Link) error {
		found, err := r.searchMarker(ctx, l.EntryID)
		if err != nil {
			return fmt.Errorf("engine: recover pending entry %d: %w", l.EntryID, err)
		}
		nl, conflict, err := r.settlePending(ctx, l, found)
		if err != nil {
			r.itemError(l.EntryID, time.Time{}, err)
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if conflict != nil {
			in.Conflicts[l.EntryID] = *conflict
		}
		if _, ok := in.Links[l.EntryID]; ok {
			if nl == nil {
				delete(in.Links, l.EntryID)
			} else {
				in.Links[l.EntryID] = *nl
			}
			return nil
		}
		for i := range in.Vanished {
			if in.Vanished[i].EntryID == l.EntryID && nl != nil {
				in.Vanished[i] = *nl
			}
		}
		if nl == nil {
			in.Vanished = slices.DeleteFunc(in.Vanished, func(x tb.Link) bool { return x.EntryID == l.EntryID })
		}
		return nil
	})
}

// settlePending applies the outcome of a marker search to a pending link.
// It returns the new link (nil when the pending record was removed) and a
// conflict when duplicates were found.
func (r *runner) settlePending(ctx context.Context, l tb.Link, found []tb.Timesheet) (*tb.Link, *tb.Conflict, error) {
	switch len(found) {
	case 0:
		claimed := l.ClaimedAt
		if claimed.IsZero() {
			claimed = l.UpdatedAt
		}
		if age := r.e.now().Sub(claimed); age < r.e.opts.PendingGrace {
			// Kimai may still be working on that request: leave the claim
			// alone (the plan skips the entry) until the grace has passed.
			r.log.Info("pending create left for later", slog.Int64("entry_id", l.EntryID), slog.Duration("age", age))
			return &l, nil, nil
		}
		nl := unclaimed(l)
		nl.RunID, nl.UpdatedAt = r.run.ID, r.e.now()
		saved, err := r.putLink(ctx, nl, l.Version)
		if err != nil {
			return nil, nil, fmt.Errorf("engine: clear pending entry %d: %w", l.EntryID, err)
		}
		r.addAudit(tb.AuditEvent{Type: "link.pending_cleared", Subject: entrySubject(l.EntryID),
			Message: fmt.Sprintf("A create that did not reach Kimai within %s was cleared; the entry will be created again.", r.e.opts.PendingGrace)})
		return &saved, nil, nil
	default:
		sort.Slice(found, func(i, j int) bool { return found[i].ID < found[j].ID })
		nl := l
		nl.State, nl.TimesheetID, nl.Baseline, nl.RunID, nl.UpdatedAt = tb.LinkSynced, found[0].ID, found[0], r.run.ID, r.e.now()
		saved, err := r.putLink(ctx, nl, l.Version)
		if err != nil {
			return nil, nil, fmt.Errorf("engine: adopt timesheet %d for entry %d: %w", found[0].ID, l.EntryID, err)
		}
		r.addAudit(tb.AuditEvent{Type: "timesheet.adopted", Subject: entrySubject(l.EntryID),
			Message: fmt.Sprintf("Adopted timesheet %d found by marker after an interrupted create", found[0].ID), After: found[0]})
		if len(found) == 1 {
			r.bump(func(c *tb.Counts) { c.Created++ })
			return &saved, nil, nil
		}
		ids := make([]int64, len(found))
		for i, s := range found {
			ids[i] = s.ID
		}
		k := found[0]
		c := tb.Conflict{Kind: tb.ConflictDuplicateInKimai, EntryID: l.EntryID, TicketID: l.TicketID, Kimai: &k, Duplicates: ids,
			Message: fmt.Sprintf("Kimai holds %d timesheets for this one Zammad entry (%v); delete the extras (use Zammad), keep them all (keep Kimai) or skip.", len(found), ids)}
		stored, err := r.openConflict(ctx, c, nil)
		if err != nil {
			return &saved, nil, err
		}
		return &saved, &stored, nil
	}
}

// searchMarker finds the timesheets carrying an entry's marker. Kimai's
// term search is a substring match, so results are checked exactly.
func (r *runner) searchMarker(ctx context.Context, entryID int64) ([]tb.Timesheet, error) {
	marker := Marker(r.instance, entryID)
	var found []tb.Timesheet
	err := r.k.ListTimesheets(ctx, kimai.TimesheetFilter{Term: marker, User: "all"}, func(page []tb.Timesheet) error {
		for _, s := range page {
			if inst, id, ok := ParseMarker(s.Description); ok && inst == r.instance && id == entryID {
				found = append(found, s)
			}
		}
		return nil
	})
	return found, err
}

func (r *runner) recordPreview(plan Plan) {
	for _, c := range plan.Changes {
		pc := tb.PlannedChange{Action: c.Action, EntryID: c.EntryID, TicketID: c.TicketID, Reason: c.Reason, Before: c.Observed}
		if c.Link != nil {
			pc.TimesheetID = c.Link.TimesheetID
		}
		if c.Desired != nil && c.Desired.Sheet != nil && c.Action != tb.ActionDelete {
			pc.After = c.Desired.Sheet
			if len(c.Desired.Creates) > 0 {
				var names []string
				for _, cs := range c.Desired.Creates {
					names = append(names, fmt.Sprintf("%s %q", cs.Kind, cs.Name))
				}
				pc.Reason = joinReason(pc.Reason, fmt.Sprintf("would auto-create %v", names))
			}
		}
		if c.Conflict != nil {
			pc.Conflict, pc.Reason = c.Conflict.Kind, c.Conflict.Message
		}
		r.run.Plan = append(r.run.Plan, pc)
		r.countAction(c)
	}
}

func joinReason(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func (r *runner) countAction(c Change) {
	r.bump(func(n *tb.Counts) {
		switch c.Action {
		case tb.ActionCreate:
			n.Created++
		case tb.ActionUpdate:
			n.Updated++
		case tb.ActionDelete:
			n.Deleted++
		case tb.ActionUnchanged:
			n.Unchanged++
		case tb.ActionSkip:
			n.Skipped++
		case tb.ActionConflict:
			n.Conflicts++
		}
	})
}

func (r *runner) advanceCursor(ctx context.Context, newest time.Time) {
	if newest.IsZero() {
		return
	}
	r.mu.Lock()
	failed := r.failedUpdatedAt
	r.mu.Unlock()
	if !failed.IsZero() && !failed.After(newest) {
		// Don't move past an entry that failed for now: the next run
		// re-reads it (the overlap covers the margin). Only for so long:
		// beyond MaxCursorHold the daily full run retries it, and holding
		// on would make every incremental run re-read ever more.
		held := failed.Add(-time.Millisecond)
		if floor := r.e.now().Add(-r.e.opts.MaxCursorHold); held.Before(floor) {
			r.log.Warn("cursor no longer held for a failing entry; the full run retries it", slog.Time("entry_updated_at", failed))
			held = floor
		}
		if held.Before(newest) {
			newest = held
		}
	}
	cur, ok, err := r.e.store.GetCursor(ctx, r.profile.ID)
	if err == nil && ok && !newest.After(cur.UpdatedAt) {
		return
	}
	if err := r.e.store.PutCursor(ctx, tb.Cursor{ProfileID: r.profile.ID, UpdatedAt: newest, RunID: r.run.ID}); err != nil {
		r.itemError(0, time.Time{}, fmt.Errorf("engine: store cursor: %w", err))
	}
}

func (r *runner) bump(f func(*tb.Counts)) {
	r.mu.Lock()
	f(&r.counts)
	r.mu.Unlock()
}

// putLink writes a link under the run's lease generation (its fence).
func (r *runner) putLink(ctx context.Context, l tb.Link, expect int64) (tb.Link, error) {
	l.Fence = r.fence
	return r.e.store.PutLink(ctx, l, expect)
}

// holdCursor keeps the incremental cursor from moving past an entry that is
// not settled yet (see advanceCursor).
func (r *runner) holdCursor(updatedAt time.Time) {
	if updatedAt.IsZero() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failedUpdatedAt.IsZero() || updatedAt.Before(r.failedUpdatedAt) {
		r.failedUpdatedAt = updatedAt
	}
}

// itemError records a per-entry failure without stopping the run.
func (r *runner) itemError(entryID int64, updatedAt time.Time, err error) {
	r.log.Warn("item failed", slog.Int64("entry_id", entryID), slog.String("class", string(apperr.KindOf(err))), slog.String("err", err.Error()))
	r.holdCursor(updatedAt)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts.Errors++
	if len(r.itemErrors) < r.e.opts.MaxItemErrors {
		r.itemErrors = append(r.itemErrors, tb.ItemError{EntryID: entryID, Class: string(apperr.KindOf(err)), Message: apperr.MessageOf(err)})
	}
}

func (r *runner) addAudit(ev tb.AuditEvent) {
	now := r.e.now()
	ev.ID, ev.Time = NewID(now), now
	ev.ProfileID, ev.RunID = r.profile.ID, r.run.ID
	if ev.Actor == "" {
		ev.Actor = r.req.Actor
	}
	r.mu.Lock()
	r.audit = append(r.audit, ev)
	r.mu.Unlock()
}

// auditBatch is how many events apply buffers before writing them, so that
// a process killed mid-run loses at most this many.
const auditBatch = 100

func (r *runner) flushAuditIfFull(ctx context.Context) {
	r.mu.Lock()
	full := len(r.audit) >= auditBatch
	r.mu.Unlock()
	if full {
		r.flushAudit(ctx)
	}
}

func (r *runner) flushAudit(ctx context.Context) {
	r.mu.Lock()
	evs := r.audit
	r.audit = nil
	r.mu.Unlock()
	if len(evs) == 0 {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := r.e.store.AppendAudit(sctx, evs...); err != nil {
		r.log.Error("write audit events", slog.Int("count", len(evs)), slog.String("err", err.Error()))
	}
}

func entrySubject(id int64) string { return fmt.Sprintf("entry %d", id) }

func keys[V any](m map[int64]V) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// forEach runs fn over items with at most n in flight and returns the first
// error (after the others finish), or the cause of ctx's end.
func forEach[T any](ctx context.Context, n int, items []T, fn func(context.Context, T) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, n))
	for _, it := range items {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if gctx.Err() != nil {
				return nil // admitted while the failure was happening: not started
			}
			return fn(gctx, it)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return context.Cause(ctx) // nil unless the caller's context ended
}

// observeKimai lists every Timebridge timesheet in Kimai since from (paged,
// tag "zammad", all users) so that a full run also sees what happened in
// Kimai to entries that did not change in Zammad: a linked timesheet that
// is gone (deleted_in_kimai), several timesheets carrying one entry's
// marker (duplicate_in_kimai), and timesheets whose link was lost (for
// example after the table was restored), which are adopted instead of being
// created a second time.
func (r *runner) observeKimai(ctx context.Context, in *PlanInput, from time.Time) error {
	byEntry := map[int64][]tb.Timesheet{}
	err := r.k.ListTimesheets(ctx, kimai.TimesheetFilter{Tags: []string{tb.DefaultTag}, Begin: from.In(r.loc), User: kimai.UserAll},
		func(page []tb.Timesheet) error {
			for _, s := range page {
				if inst, id, ok := ParseMarker(s.Description); ok && inst == r.instance {
					byEntry[id] = append(byEntry[id], s)
				}
			}
			return nil
		})
	if apperr.Is(err, apperr.Validation) {
		// Kimai refuses a filter on a tag it doesn't know: then nothing
		// carries it yet (dry run before the first sync).
		return nil
	}
	if err != nil {
		return fmt.Errorf("engine: list kimai timesheets: %w", err)
	}
	for _, d := range in.Desired {
		id := d.Entry.ID
		found := byEntry[id]
		sort.Slice(found, func(i, j int) bool { return found[i].ID < found[j].ID })
		l, linked := in.Links[id]
		if _, open := in.Conflicts[id]; !open && len(found) > 1 && !r.req.DryRun && (!linked || l.State != tb.LinkSkipped) {
			if err := r.adoptOrphans(ctx, in, d, found); err != nil {
				return err
			}
			continue
		}
		switch {
		case linked && l.State == tb.LinkSynced && !l.Baseline.Begin.Before(from):
			if _, fetched := in.Observed[l.TimesheetID]; fetched {
				continue
			}
			obs := Observation{}
			for _, s := range found {
				if s.ID == l.TimesheetID {
					obs = Observation{Found: true, Sheet: s}
				}
			}
			if !obs.Found {
				// Paged listings can skip rows, and the tag or begin may
				// have been edited out of the filter: only a direct read
				// says it is gone.
				var err error
				if obs, err = r.observe(ctx, l.TimesheetID); err != nil {
					return err
				}
			}
			in.Observed[l.TimesheetID] = obs
		case !linked && len(found) == 1 && !r.req.DryRun:
			if err := r.adoptOrphans(ctx, in, d, found); err != nil {
				return err
			}
		}
	}
	return nil
}

// observe reads one linked timesheet. Gone (404) and unreadable (403) are
// observations about that one entry, not failures of the run: one
// timesheet the token may not see must not stop every other entry (nor
// the incremental cursor).
func (r *runner) observe(ctx context.Context, id int64) (Observation, error) {
	s, err := r.k.Timesheet(ctx, id)
	switch {
	case err == nil:
		return Observation{Found: true, Sheet: s}, nil
	case apperr.Is(err, apperr.NotFound):
		return Observation{}, nil
	case apperr.Is(err, apperr.Permission):
		return Observation{Denied: apperr.MessageOf(err)}, nil
	}
	return Observation{}, fmt.Errorf("engine: kimai timesheet %d: %w", id, err)
}

// confirmVanished keeps the links whose entries their ticket really no
// longer has (one read per affected ticket; vanished entries are rare).
func (r *runner) confirmVanished(ctx context.Context, vanished []tb.Link) ([]tb.Link, error) {
	byTicket := map[int64][]tb.Link{}
	for _, l := range vanished {
		byTicket[l.TicketID] = append(byTicket[l.TicketID], l)
	}
	var mu sync.Mutex
	var out []tb.Link
	err := forEach(ctx, r.e.opts.ReadConcurrency, keys(byTicket), func(ctx context.Context, tid int64) error {
		zs, err := r.z.TicketEntries(ctx, tid)
		if err != nil && !apperr.Is(err, apperr.NotFound) {
			return fmt.Errorf("engine: confirm deletions on ticket %d: %w", tid, err)
		}
		still := map[int64]bool{}
		for _, e := range zs {
			still[e.ID] = true
		}
		mu.Lock()
		defer mu.Unlock()
		for _, l := range byTicket[tid] {
			if !still[l.EntryID] {
				out = append(out, l)
			}
		}
		return nil
	})
	return out, err
}

// refreshLinks re-reads, strongly consistently, the links a plan would act
// on: ticket lookups go through an eventually consistent index, and a link
// version a moment old (just after the previous run updated the timesheet)
// would make Timebridge's own write look like an edit in Kimai.
func (r *runner) refreshLinks(ctx context.Context, in *PlanInput) error {
	var stale []tb.Link
	for _, d := range in.Desired {
		l, ok := in.Links[d.Entry.ID]
		if !ok {
			continue
		}
		if l.State == tb.LinkPending || l.State == tb.LinkSynced && (d.Sheet == nil || d.Hash != l.SourceHash) {
			stale = append(stale, l)
		}
	}
	var mu sync.Mutex
	return forEach(ctx, r.e.opts.ReadConcurrency, stale, func(ctx context.Context, l tb.Link) error {
		fresh, err := r.e.store.GetLink(ctx, l.ProfileID, l.TicketID, l.EntryID)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			in.Links[l.EntryID] = fresh
		case apperr.Is(err, apperr.NotFound):
			delete(in.Links, l.EntryID)
		default:
			return fmt.Errorf("engine: re-read link of entry %d: %w", l.EntryID, err)
		}
		return nil
	})
}
