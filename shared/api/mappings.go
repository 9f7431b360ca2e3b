package api

import (
	"fmt"
	"net/http"
	"regexp"

	tb "github.com/timebridge/timebridge/shared/timebridge"
)

type mappingInput struct {
	Kind     string `json:"kind"`
	SourceID string `json:"source_id"`
	TargetID int64  `json:"target_id"`
}

// Source ids as the engine looks them up (plan.Lookup): Zammad ids in
// decimal for activity (type), customer (organization) and user (agent);
// the project key of the profile's strategy for projects
// (plan.ProjectSource).
var (
	numericSource = regexp.MustCompile(`^(0|[1-9][0-9]{0,17})$`)
	projectSource = regexp.MustCompile(`^(org-[0-9]{1,18}|ticket-[0-9]{1,18}|group-[0-9]{1,18}-org-[0-9]{1,18})$`)
)

// checkMappingKey validates a mapping's kind and source id (fields named
// after the body; the DELETE route reports them as path parameters the
// same way).
func checkMappingKey(p problems, kind, source string) tb.MappingKind {
	k := tb.MappingKind(kind)
	switch k {
	case tb.MapActivity, tb.MapCustomer, tb.MapUser:
		if !numericSource.MatchString(source) {
			p.add("source_id", fmt.Sprintf("must be the Zammad %s id as a decimal string, e.g. \"12\"", map[tb.MappingKind]string{
				tb.MapActivity: "activity type", tb.MapCustomer: "organization", tb.MapUser: "agent (user)"}[k]))
		}
	case tb.MapProject:
		if !projectSource.MatchString(source) {
			p.add("source_id", `must be a project key: "org-<organization id>", "ticket-<ticket id>" or "group-<group id>-org-<organization id>"`)
		}
	case "":
		p.add("kind", "is required (activity, customer, project or user)")
	default:
		p.add("kind", "must be activity, customer, project or user")
	}
	return k
}

func (s *server) listMappings(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	pr, err := s.loadProfile(r)
	if err != nil {
		return err
	}
	ms, err := s.Store.Mappings(r.Context(), pr.ID)
	if err != nil {
		return err
	}
	if ms == nil {
		ms = []tb.Mapping{}
	}
	writeJSON(w, http.StatusOK, list[tb.Mapping]{Items: ms})
	return nil
}

func (s *server) putMapping(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in mappingInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	p := problems{}
	kind := checkMappingKey(p, in.Kind, in.SourceID)
	if in.TargetID < 1 || in.TargetID > maxExternalID {
		p.add("target_id", "must be the id of the Kimai record (a positive whole number)")
	}
	if err := p.err(); err != nil {
		return err
	}
	pr, err := s.Store.GetProfile(ctx, id)
	if err != nil {
		return err
	}
	// The previous mapping (if any) is the audit's "before".
	var before *tb.Mapping
	if ms, err := s.Store.Mappings(ctx, pr.ID); err == nil {
		for _, m := range ms {
			if m.Kind == kind && m.SourceID == in.SourceID {
				before = &m
				break
			}
		}
	}
	m := tb.Mapping{ProfileID: pr.ID, Kind: kind, SourceID: in.SourceID, TargetID: in.TargetID}
	if err := s.Store.PutMapping(ctx, m); err != nil {
		return err
	}
	m.UpdatedAt = s.Now().UTC()
	ev := auditEvent{ProfileID: pr.ID, Type: "mapping.saved", Subject: fmt.Sprintf("mapping %s %s", kind, in.SourceID),
		Message: fmt.Sprintf("Mapped Zammad %s %s to Kimai id %d", kind, in.SourceID, in.TargetID), After: m}
	if before != nil {
		ev.Before = before
	}
	s.audit(r, ev)
	writeJSON(w, http.StatusOK, m)
	return nil
}

func (s *server) deleteMapping(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if _, err := query(r); err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	p := problems{}
	kind := checkMappingKey(p, r.PathValue("kind"), r.PathValue("source_id"))
	if err := p.err(); err != nil {
		return err
	}
	pr, err := s.Store.GetProfile(ctx, id)
	if err != nil {
		return err
	}
	source := r.PathValue("source_id")
	if err := s.Store.DeleteMapping(ctx, pr.ID, kind, source); err != nil {
		return err
	}
	s.audit(r, auditEvent{ProfileID: pr.ID, Type: "mapping.deleted", Subject: fmt.Sprintf("mapping %s %s", kind, source),
		Message: fmt.Sprintf("Removed the mapping of Zammad %s %s", kind, source)})
	w.WriteHeader(http.StatusNoContent)
	return nil
}
