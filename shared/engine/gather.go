package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/engine/plan"
	"github.com/timebridge/timebridge/shared/kimai"
	tb "github.com/timebridge/timebridge/shared/timebridge"
	"github.com/timebridge/timebridge/shared/zammad"
)

// Gather: what Zammad holds for the run, and the mappings, Kimai catalog
// and names the desired state is computed from.

// gather reads the Zammad entries the run covers, grouped by ticket with
// every entry of each ticket (netting needs the whole ticket). scanned
// reports whether the deletion scope is known: the set of all entry ids
// (full runs) or the one ticket's (ticket runs).
func (r *runner) gather(ctx context.Context) (tickets map[int64]*ticketData, scanned map[int64]bool, newest time.Time, err error) {
	now := r.e.now()
	window := now.AddDate(0, 0, -r.profile.DeletionWindowDays)
	switch r.req.Mode {
	case tb.ModeTicket:
		tickets, err = r.fetchTickets(ctx, r.req.tickets(), nil, nil)
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
		tickets, err = r.fetchTickets(ctx, ids, nil, r.prefetchTickets(ctx, ids))
		return tickets, nil, newest, err

	case tb.ModeFull, tb.ModeRange:
		all := map[int64][]plan.Entry{}
		scanned = map[int64]bool{}
		r.scan = &entryScan{ids: scanned}
		err = r.z.ListEntries(ctx, scanOptions(r.e.opts.ScanPageSize),
			func(page []zammad.Entry) (bool, error) {
				r.scan.pages++
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
		if r.chunked() {
			// Read chunk by chunk (chunk.go): here only their entries.
			tickets = make(map[int64]*ticketData, len(ids))
			for _, id := range ids {
				tickets[id] = &ticketData{ticket: plan.Ticket{ID: id}, entries: all[id]}
			}
			return tickets, nil, time.Time{}, nil
		}
		// Every ticket in scope is read: the bulk search first (see
		// prefetch.go), then one by one what it did not return.
		tickets, err = r.fetchTickets(ctx, ids, all, r.prefetchTickets(ctx, ids))
		return tickets, scanned, time.Time{}, err
	}
	return nil, nil, time.Time{}, apperr.New(apperr.Validation, "engine: run", "unknown mode")
}

// fetchTickets loads tickets (and, unless known, their entries) with
// bounded concurrency. Tickets in have (read in bulk by prefetchTickets)
// are not read again. A ticket Zammad no longer has is marked gone.
func (r *runner) fetchTickets(ctx context.Context, ids []int64, known map[int64][]plan.Entry, have map[int64]zammad.Ticket) (map[int64]*ticketData, error) {
	slices.Sort(ids)
	out := make(map[int64]*ticketData, len(ids))
	var mu sync.Mutex
	err := forEach(ctx, r.e.opts.ReadConcurrency, ids, func(ctx context.Context, id int64) error {
		t, found := have[id]
		var err error
		if !found {
			t, err = r.z.Ticket(ctx, id)
		}
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
				r.itemError(0, id, time.Time{}, apperr.Wrap(err, apperr.Permission, fmt.Sprintf("engine: zammad ticket %d", id),
					fmt.Sprintf("Zammad ticket %d has time entries but the token's user cannot read the ticket; give it read access to the ticket's group (or to all groups).", id)))
				return nil
			}
			mu.Lock()
			out[id] = &ticketData{ticket: plan.Ticket{ID: id}, gone: true}
			mu.Unlock()
			return nil
		}
		if apperr.Is(err, apperr.Permission) {
			// TicketPolicy: the ticket's group is not readable by the
			// token's user (the admin-level entry list shows its entries
			// all the same). Left alone, never taken for deleted.
			r.itemError(0, id, time.Time{}, apperr.Wrap(err, apperr.Permission, fmt.Sprintf("engine: zammad ticket %d", id),
				fmt.Sprintf("Zammad does not let the token's user read ticket %d; give it read access to the ticket's group (or to all groups). If every ticket fails, the token lacks ticket.agent.", id)))
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
		td := &ticketData{ticket: plan.Ticket{ID: t.ID, Number: t.Number, Title: t.Title, OrgID: t.OrganizationID, GroupID: t.GroupID}, entries: entries}
		mu.Lock()
		out[id] = td
		mu.Unlock()
		return nil
	})
	return out, err
}

func fromZammad(e zammad.Entry) plan.Entry {
	return plan.Entry{ID: e.ID, TicketID: e.TicketID, Units: e.TimeUnit, TypeID: e.TypeID, AgentID: e.CreatedByID,
		CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC()}
}

// loadContext loads mappings, the Kimai catalog and the Zammad names the
// run needs, once, side by side.
func (r *runner) loadContext(ctx context.Context, tickets map[int64]*ticketData) error {
	r.names = plan.Names{Orgs: map[int64]string{}, Groups: map[int64]string{}, Types: map[int64]string{}, Agents: map[int64]plan.Agent{}}
	cat := &plan.Catalog{}
	var ms []tb.Mapping
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		if ms, err = r.e.store.Mappings(ctx, r.profile.ID); err != nil {
			return fmt.Errorf("engine: load mappings: %w", err)
		}
		return nil
	})
	g.Go(readAll(ctx, "kimai customers", r.k.Customers, customerFrom, &cat.Customers))
	g.Go(readAll(ctx, "kimai projects", r.k.Projects, projectFrom, &cat.Projects))
	g.Go(readAll(ctx, "kimai activities", r.k.Activities, activityFrom, &cat.Activities))
	if r.profile.UserMode == tb.UserEmail || r.profile.UserMode == tb.UserExplicit {
		g.Go(func() error {
			users, err := r.k.Users(ctx)
			if err != nil && !(r.profile.UserMode == tb.UserExplicit && apperr.Is(err, apperr.Permission)) {
				return fmt.Errorf("engine: kimai users (needs view_user for user mapping by email): %w", err)
			}
			for _, u := range users {
				cat.Users = append(cat.Users, plan.KimaiUser{ID: u.ID, Username: u.Username, Email: u.Email, Enabled: u.Enabled})
			}
			return nil
		})
		g.Go(func() error { return r.readAgents(ctx, tickets) })
	}
	// Type names make conflicts and auto-created activities readable; a
	// token without admin.time_accounting can't read them, which is fine.
	g.Go(func() error {
		types, err := r.z.Types(ctx)
		if err != nil {
			if apperr.Is(err, apperr.Permission) || apperr.Is(err, apperr.NotFound) {
				return nil
			}
			return fmt.Errorf("engine: zammad types: %w", err)
		}
		for _, t := range types {
			r.names.Types[t.ID] = t.Name
		}
		return nil
	})
	if r.profile.ProjectStrategy == tb.ProjectPerGroup {
		g.Go(func() error {
			groups, err := r.z.Groups(ctx)
			if err != nil {
				return fmt.Errorf("engine: zammad groups: %w", err)
			}
			for _, g := range groups {
				r.names.Groups[g.ID] = g.Name
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	r.mappings = plan.NewMappings(ms)
	r.catalog = cat
	return nil
}

// readAll is a read for loadContext's group: it appends what read returns,
// each converted, to *dst.
func readAll[T, U any](ctx context.Context, what string, read func(context.Context) ([]T, error), conv func(T) U, dst *[]U) func() error {
	return func() error {
		items, err := read(ctx)
		if err != nil {
			return fmt.Errorf("engine: %s: %w", what, err)
		}
		for _, it := range items {
			*dst = append(*dst, conv(it))
		}
		return nil
	}
}

// readAgents reads the name and email of every agent who booked an entry
// (user mapping by email), once per agent.
func (r *runner) readAgents(ctx context.Context, tickets map[int64]*ticketData) error {
	agents := map[int64]bool{}
	for _, td := range tickets {
		for _, e := range td.entries {
			agents[e.AgentID] = true
		}
	}
	var mu sync.Mutex
	return forEach(ctx, r.e.opts.ReadConcurrency, keys(agents), func(ctx context.Context, id int64) error {
		u, err := r.z.User(ctx, id)
		if apperr.Is(err, apperr.NotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("engine: zammad user %d: %w", id, err)
		}
		mu.Lock()
		r.names.Agents[id] = plan.Agent{ID: id, Name: u.FullName(), Email: u.Email}
		mu.Unlock()
		return nil
	})
}

func (r *runner) lookup() *plan.Lookup {
	return &plan.Lookup{Profile: r.profile, Catalog: r.catalog, Mappings: r.mappings, Names: r.names}
}

// nameOrgs reads the names of the Zammad organizations whose Kimai
// customers a run would auto-create, so that they are created (or, in a
// preview, shown) under their real names. Reads only.
func (r *runner) nameOrgs(ctx context.Context, tickets map[int64]*ticketData) error {
	ids := keys(tickets)
	res := r.lookup()
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
	var mu sync.Mutex
	return forEach(ctx, r.e.opts.ReadConcurrency, keys(orgs), func(ctx context.Context, oid int64) error {
		o, err := r.z.Organization(ctx, oid)
		if err != nil {
			if apperr.Is(err, apperr.NotFound) || apperr.Is(err, apperr.Permission) {
				return nil // created under a fallback name
			}
			return fmt.Errorf("engine: zammad organization %d: %w", oid, err)
		}
		mu.Lock()
		r.names.Orgs[oid] = o.Name
		mu.Unlock()
		return nil
	})
}

// ensureCatalog auto-creates the customers, projects and activities the
// run's tickets need (where the profile allows it): the customers and
// activities first, side by side, then the projects, which belong to the
// customers. Each creation is audited. Organization names come from
// nameOrgs.
func (r *runner) ensureCatalog(ctx context.Context, tickets map[int64]*ticketData) error {
	res := r.lookup()
	var first []plan.CreateSpec
	seen := map[string]bool{}
	add := func(to *[]plan.CreateSpec, spec *plan.CreateSpec) {
		if spec != nil && !seen[spec.Number] {
			seen[spec.Number] = true
			*to = append(*to, *spec)
		}
	}
	live := make([]*ticketData, 0, len(tickets))
	for _, id := range keys(tickets) {
		td := tickets[id]
		if td.gone || len(td.entries) == 0 {
			continue
		}
		live = append(live, td)
		add(&first, res.Customer(td.ticket.OrgID).Create)
		types := map[int64]bool{}
		for _, e := range td.entries {
			types[e.TypeID] = true
		}
		for _, typ := range keys(types) {
			add(&first, res.Activity(typ).Create)
		}
	}
	if err := r.createAll(ctx, first); err != nil {
		return err
	}
	var projects []plan.CreateSpec
	for _, td := range live {
		if c := res.Customer(td.ticket.OrgID); c.ID != 0 {
			add(&projects, res.Project(td.ticket, c.ID).Create)
		}
	}
	return r.createAll(ctx, projects)
}

// createAll creates the given catalog entities, a few at a time.
func (r *runner) createAll(ctx context.Context, specs []plan.CreateSpec) error {
	return forEach(ctx, r.e.opts.ReadConcurrency, specs, func(ctx context.Context, spec plan.CreateSpec) error {
		return r.create(ctx, spec)
	})
}

// create makes one catalog entity. A validation failure (e.g. the number is
// taken by an entity the token can't see) is not fatal: the entries that
// need it become unmapped_* conflicts naming the problem.
func (r *runner) create(ctx context.Context, spec plan.CreateSpec) error {
	var after any
	var err error
	switch spec.Kind {
	case tb.MapCustomer:
		var c kimai.Customer
		c, err = r.k.CreateCustomer(ctx, kimai.CustomerInput{Name: spec.Name, Number: spec.Number, Timezone: r.loc.String()})
		if err == nil {
			r.mu.Lock()
			r.catalog.AddCustomer(customerFrom(c))
			r.mu.Unlock()
			after = c
		}
	case tb.MapProject:
		var p kimai.Project
		p, err = r.k.CreateProject(ctx, kimai.ProjectInput{Name: spec.Name, Number: spec.Number, CustomerID: spec.CustomerID})
		if err == nil {
			r.mu.Lock()
			r.catalog.AddProject(projectFrom(p))
			r.mu.Unlock()
			after = p
		}
	case tb.MapActivity:
		var a kimai.Activity
		a, err = r.k.CreateActivity(ctx, kimai.ActivityInput{Name: spec.Name, Number: spec.Number})
		if err == nil {
			r.mu.Lock()
			r.catalog.AddActivity(activityFrom(a))
			r.mu.Unlock()
			after = a
		}
	}
	if err != nil {
		if apperr.Is(err, apperr.Validation) || apperr.Is(err, apperr.Permission) {
			r.itemError(0, 0, time.Time{}, fmt.Errorf("engine: auto-create %s %q: %w", spec.Kind, spec.Name, err))
			return nil
		}
		return fmt.Errorf("engine: auto-create %s %q: %w", spec.Kind, spec.Name, err)
	}
	r.addAudit(tb.AuditEvent{Type: "catalog." + string(spec.Kind) + "_created", Subject: fmt.Sprintf("%s %s", spec.Kind, spec.Number),
		Message: fmt.Sprintf("Created Kimai %s %q (%s)", spec.Kind, spec.Name, spec.Number), After: after})
	return nil
}
