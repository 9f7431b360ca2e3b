package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/auth"
)

// ---- request context ----

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyUser
	keyClient
	keyClaims
)

func requestIDOf(ctx context.Context) string { s, _ := ctx.Value(keyRequestID).(string); return s }

// claimsOf is the verified session of an authenticated request.
func claimsOf(ctx context.Context) auth.Claims {
	c, _ := ctx.Value(keyClaims).(auth.Claims)
	return c
}

// clientAddress is the client's real address (edge.Guard).
func (s *server) clientAddress(r *http.Request) string {
	a, _ := r.Context().Value(keyClient).(string)
	return a
}

// actor is the authenticated admin's username, the actor of audit events.
func actor(ctx context.Context) string {
	if u, _ := ctx.Value(keyUser).(string); u != "" {
		return u
	}
	return auditActorFallback
}

var safeRequestID = regexp.MustCompile(`^[A-Za-z0-9._=-]{1,64}$`)

// requestID is API Gateway's request id when the request came through the
// Lambda adapter, else a sane incoming X-Request-Id (the local front), else
// a fresh random one.
func requestID(r *http.Request) string {
	if gw, ok := core.GetAPIGatewayV2ContextFromContext(r.Context()); ok && gw.RequestID != "" {
		return gw.RequestID
	}
	if id := r.Header.Get("X-Request-Id"); safeRequestID.MatchString(id) {
		return id
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusWriter remembers the status for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ---- dispatch ----

// methods tried to tell a 405 from a 404.
var allMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// serve answers unknown routes and wrong methods with JSON errors (the
// ServeMux would answer plain text) and hands everything else to the mux,
// which fills in the path values.
func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// Non-canonical paths ("//", "/./", "/../") would get the mux's HTML
	// redirect; no client of this API sends them, so they are not found.
	canonical := path.Clean(r.URL.Path) == r.URL.Path
	if _, pattern := s.mux.Handler(r); pattern != "" && canonical {
		s.mux.ServeHTTP(w, r)
		return
	}
	rid := requestID(r)
	h.Set("X-Request-Id", rid)
	r = r.WithContext(context.WithValue(r.Context(), keyRequestID, rid))
	sw := &statusWriter{ResponseWriter: w}
	w = sw
	defer func() {
		s.Logger.Info("request", slog.String("request_id", rid), slog.String("method", r.Method),
			slog.String("route", ""), slog.String("path", r.URL.Path), slog.Int("status", sw.status))
	}()
	var allowed []string
	for _, m := range allMethods {
		if !canonical {
			break
		}
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, p := s.mux.Handler(r2); p != "" && m != r.Method {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		h.Set("Allow", strings.Join(allowed, ", "))
		s.writeError(w, r, errMethod{method: r.Method, allowed: allowed})
		return
	}
	s.writeError(w, r, apperr.New(apperr.NotFound, "api: route", "There is no API route "+r.Method+" "+r.URL.Path+"; see /api/openapi.json."))
}

// wrap adds what every route needs: a request id, a body limit, panic
// recovery, authentication (unless public), error rendering and one access
// log line.
func (s *server) wrap(rt route) http.Handler {
	pattern := rt.Method + " " + rt.Path
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := requestID(r)
		w.Header().Set("X-Request-Id", rid)
		ctx := context.WithValue(r.Context(), keyRequestID, rid)
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(ctx)
		if r.Body != nil {
			r.Body = http.MaxBytesReader(sw, r.Body, MaxBodyBytes)
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.Logger.Error("panic", slog.String("request_id", rid), slog.String("route", pattern),
					slog.String("panic", fmt.Sprint(p)), slog.String("stack", string(debug.Stack())))
				if sw.status == 0 {
					s.writeError(sw, r, apperr.New(apperr.Internal, "api: panic", ""))
				}
			}
			s.Logger.Info("request", slog.String("request_id", rid), slog.String("method", r.Method),
				slog.String("route", pattern), slog.String("path", r.URL.Path), slog.Int("status", sw.status),
				slog.Int64("duration_ms", time.Since(start).Milliseconds()))
		}()
		client, err := s.Edge.Client(r)
		if err != nil {
			s.writeError(sw, r, err)
			return
		}
		ctx = context.WithValue(ctx, keyClient, client)
		r = r.WithContext(ctx)
		if !rt.Public {
			claims, err := s.authenticate(r)
			if err != nil {
				sw.Header().Set("WWW-Authenticate", `Bearer realm="timebridge"`)
				s.writeError(sw, r, err)
				return
			}
			ctx = context.WithValue(ctx, keyUser, claims.Username)
			r = r.WithContext(context.WithValue(ctx, keyClaims, claims))
		}
		if err := rt.Handle(s, sw, r); err != nil {
			s.writeError(sw, r, err)
		}
	})
}

// authenticate checks the bearer token and returns its session.
func (s *server) authenticate(r *http.Request) (auth.Claims, error) {
	const op = "api: authenticate"
	h := r.Header.Get("Authorization")
	if h == "" {
		return auth.Claims{}, apperr.New(apperr.Auth, op, "Log in first: the request has no \"Authorization: Bearer <token>\" header.")
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return auth.Claims{}, apperr.New(apperr.Auth, op, "The Authorization header must be \"Bearer <token>\".")
	}
	c, err := s.Auth.Verify(r.Context(), strings.TrimSpace(tok))
	if err != nil {
		return auth.Claims{}, err
	}
	return c, nil
}

// ---- responses ----

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only a programming error (an unmarshalable type) gets here.
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"The response could not be encoded.","fields":{}}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// errMethod is a request for a route that exists with other methods.
type errMethod struct {
	method  string
	allowed []string
}

func (e errMethod) Error() string {
	return "method " + e.method + " not allowed; use " + strings.Join(e.allowed, ", ")
}

type errorDetail struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields"`
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

// errorResponse is the one place where errors become HTTP answers: the
// status comes from apperr.HTTPStatus, the code from the kind. The two
// statuses apperr has no kind for (413, 405) are recognised here too.
func errorResponse(err error, requestID string) (int, errorDetail) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return http.StatusRequestEntityTooLarge, errorDetail{Code: apperr.CodeValidation,
			Message: fmt.Sprintf("The request body is larger than %d bytes (1 MiB).", MaxBodyBytes),
			Fields:  map[string]string{"body": "must be at most 1 MiB"}}
	}
	var wm errMethod
	if errors.As(err, &wm) {
		return http.StatusMethodNotAllowed, errorDetail{Code: apperr.CodeValidation,
			Message: fmt.Sprintf("This route does not accept %s; use %s.", wm.method, strings.Join(wm.allowed, " or ")),
			Fields:  map[string]string{}}
	}
	kind := apperr.KindOf(err)
	d := errorDetail{Message: apperr.MessageOf(err), Fields: apperr.FieldsOf(err)}
	if d.Fields == nil {
		d.Fields = map[string]string{}
	}
	d.Code = apperr.Code(kind)
	if d.Code == apperr.CodeInternal {
		d.Message = strings.TrimSpace(d.Message + " (request id " + requestID + ")")
	}
	return apperr.HTTPStatus(kind), d
}

// writeError renders err; 5xx answers are logged with the request id and
// the full error (which carries no secrets by the packages' conventions).
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	rid := requestIDOf(r.Context())
	status, d := errorResponse(err, rid)
	if status >= 500 {
		level := slog.LevelError
		if d.Code == apperr.CodeUpstream {
			level = slog.LevelWarn
		}
		s.Logger.Log(r.Context(), level, "request failed", slog.String("request_id", rid),
			slog.String("path", r.URL.Path), slog.Int("status", status),
			slog.String("class", string(apperr.KindOf(err))), slog.String("err", err.Error()))
	}
	if ra := apperr.RetryAfterOf(err); ra > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((ra+time.Second-1)/time.Second)))
	}
	writeJSON(w, status, errorBody{Error: d})
}
