import { useCallback, useEffect, useRef, useState, type FormEvent, type MouseEvent, type RefObject } from "react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { ApiError, api, loadSession, onSessionExpired } from "./api/client";
import { ToastProvider, errorMessage } from "./ui";
import { Dashboard } from "./sections/Dashboard";
import { Connectors } from "./sections/Connectors";
import { Profiles } from "./sections/Profiles";
import { Mappings } from "./sections/Mappings";
import { Conflicts } from "./sections/Conflicts";
import { Runs } from "./sections/Runs";
import { RunPage } from "./sections/RunPage";
import { Reports } from "./sections/Reports";
import { Audit } from "./sections/Audit";
import { SetupBanner } from "./sections/Guide";
import { Link, matchRoute, navPage, pages, routeTitle, useLinkInterception, useLocation, type Route } from "./router";

export function makeQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 10_000,
        refetchOnWindowFocus: false,
        retry: (n, e) => !(e instanceof ApiError && e.status > 0 && e.status < 500) && n < 2,
      },
      mutations: { retry: false },
    },
  });
}

export function App({ client }: { client?: QueryClient }) {
  const [qc] = useState(() => client ?? makeQueryClient());
  const [signedIn, setSignedIn] = useState(() => loadSession() !== null);
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(
    () =>
      onSessionExpired((msg) => {
        qc.clear();
        setNotice(msg);
        setSignedIn(false);
      }),
    [qc],
  );

  return (
    <QueryClientProvider client={qc}>
      <ToastProvider>
        {signedIn ? (
          <Console
            onSignOut={(everywhere) => {
              // The server revokes the token (or every session); the browser
              // forgets it even when the server cannot be reached.
              void (everywhere ? api.logoutEverywhere() : api.logout()).catch(() => undefined);
              qc.clear();
              setNotice(everywhere ? "You have signed out everywhere." : "You have signed out.");
              setSignedIn(false);
            }}
          />
        ) : (
          <SignIn
            notice={notice}
            onSignedIn={() => {
              setNotice(null);
              setSignedIn(true);
            }}
          />
        )}
      </ToastProvider>
    </QueryClientProvider>
  );
}

export function SignIn({ notice, onSignedIn }: { notice: string | null; onSignedIn: () => void }) {
  useEffect(() => {
    document.title = "Sign in · Timebridge";
  }, []);
  const [username, setUsername] = useState("admin");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const userRef = useRef<HTMLInputElement>(null);
  const passwordRef = useRef<HTMLInputElement>(null);
  const errorRef = useRef<HTMLParagraphElement>(null);
  // After a failed submit, focus moves to what needs fixing: the empty field,
  // else the error (a wrong password), never left on the button.
  const [focusAfter, setFocusAfter] = useState<{ to: "username" | "password" | "error" } | null>(null);
  useEffect(() => {
    if (!focusAfter) return;
    const el = focusAfter.to === "username" ? userRef.current : focusAfter.to === "password" ? passwordRef.current : errorRef.current;
    el?.focus();
  }, [focusAfter]);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!username.trim() || !password) {
      setError("Enter your username and password.");
      setFocusAfter({ to: !username.trim() ? "username" : "password" });
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await api.login(username.trim(), password);
      onSignedIn();
    } catch (err) {
      setError(errorMessage(err));
      setFocusAfter({ to: "error" });
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="signin">
      <form onSubmit={submit} className="card signin-card" noValidate aria-labelledby="signin-title">
        <h1 id="signin-title">Sign in to Timebridge</h1>
        {notice && (
          <p className="notice" role="status">
            {notice}
          </p>
        )}
        <div className="field">
          <label htmlFor="signin-username">Username</label>
          <input
            ref={userRef}
            id="signin-username"
            name="username"
            autoComplete="username"
            value={username}
            onChange={(e) => setUsername(e.target.value)}
            required
          />
        </div>
        <div className="field">
          <label htmlFor="signin-password">Password</label>
          <input
            ref={passwordRef}
            id="signin-password"
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
            autoFocus
          />
        </div>
        {error && (
          <p className="error-box" role="alert" tabIndex={-1} ref={errorRef} data-testid="signin-error">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}

/**
 * Keeps --topbar-h equal to the sticky top bar's height, so that sticky
 * elements below it (the preview's action bar) sit just under it.
 */
function useTopbarHeight(bar: RefObject<HTMLElement | null>) {
  useEffect(() => {
    const el = bar.current;
    const root = document.documentElement;
    const measure = () => root.style.setProperty("--topbar-h", `${el?.getBoundingClientRect().height ?? 0}px`);
    measure();
    const ro = typeof ResizeObserver === "undefined" || !el ? null : new ResizeObserver(measure);
    if (el) ro?.observe(el);
    return () => ro?.disconnect();
  }, [bar]);
}

/**
 * After a navigation to another path (not on the first render, and not when
 * only the query string changed), the page starts at its top and focus moves
 * to its heading, so that a screen reader announces the page.
 */
function useFocusHeadingOnNavigate(path: string) {
  const last = useRef(path);
  useEffect(() => {
    if (last.current === path) return;
    last.current = path;
    (document.scrollingElement ?? document.documentElement).scrollTop = 0;
    let frame = 0;
    let tries = 0;
    const focus = () => {
      const main = document.getElementById("main");
      const h = main?.querySelector<HTMLElement>("h1, h2");
      if (h) {
        if (!h.hasAttribute("tabindex")) h.setAttribute("tabindex", "-1");
        h.focus({ preventScroll: true });
        return;
      }
      // A page that shows its heading after loading: try for a few frames, then main.
      if (tries++ < 30) frame = requestAnimationFrame(focus);
      else main?.focus({ preventScroll: true });
    };
    focus();
    return () => cancelAnimationFrame(frame);
  }, [path]);
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case "dashboard":
      return <Dashboard />;
    case "connectors":
      return <Connectors />;
    case "profiles":
      return <Profiles />;
    case "mappings":
      return <Mappings />;
    case "conflicts":
      return <Conflicts />;
    case "runs":
      return <Runs />;
    case "run":
      return <RunPage key={route.runId} runId={route.runId} />;
    case "reports":
      return <Reports />;
    case "audit":
      return <Audit />;
    case "not-found":
      return <NotFound />;
  }
}

export function NotFound() {
  const { path } = useLocation();
  return (
    <section id="not-found" aria-labelledby="not-found-title" className="section" data-testid="not-found">
      <h2 id="not-found-title">Page not found</h2>
      <p>
        There is no page at <code>{path}</code>. It may have moved, or the address was mistyped.
      </p>
      <p>
        <Link to="/">Go to the Dashboard</Link>
      </p>
    </section>
  );
}

function Console({ onSignOut }: { onSignOut: (everywhere: boolean) => void }) {
  useLinkInterception();
  const { path } = useLocation();
  const route = matchRoute(path);
  const current = navPage(route);
  const title = routeTitle(route);
  useEffect(() => {
    document.title = title;
  }, [title]);
  useFocusHeadingOnNavigate(path);
  const topbar = useRef<HTMLElement>(null);
  useTopbarHeight(topbar);
  // On a narrow screen the pages are behind a menu button; choosing a page (or any navigation) closes it.
  const [menuOpen, setMenuOpen] = useState(false);
  useEffect(() => setMenuOpen(false), [path]);
  const menuButton = useRef<HTMLButtonElement>(null);
  // The skip link's target is <main>: it receives focus (tabIndex -1) and is
  // scrolled to, whatever the address held before.
  const skip = useCallback((e: MouseEvent<HTMLAnchorElement>) => {
    const main = document.getElementById("main");
    if (!main) return;
    e.preventDefault();
    main.focus({ preventScroll: true });
    main.scrollIntoView({ block: "start" });
  }, []);
  return (
    <>
      <a className="skip" href="#main" onClick={skip} data-testid="skip-link">
        Skip to content
      </a>
      <header
        className={menuOpen ? "topbar menu-open" : "topbar"}
        ref={topbar}
        onKeyDown={(e) => {
          if (e.key === "Escape" && menuOpen) {
            setMenuOpen(false);
            menuButton.current?.focus();
          }
        }}
      >
        <Link to="/" className="brand">
          Timebridge
        </Link>
        <button
          type="button"
          ref={menuButton}
          className="menu-button"
          data-testid="menu-button"
          aria-expanded={menuOpen}
          aria-controls="nav-pages"
          onClick={() => setMenuOpen((o) => !o)}
        >
          {menuOpen ? "Close menu" : "Menu"}
        </button>
        <nav
          aria-label="Pages"
          data-testid="nav"
          className={menuOpen ? "open" : undefined}
        >
          <ul id="nav-pages">
            {pages.map((p) => (
              <li key={p.id}>
                <Link to={p.path} aria-current={current === p.id ? "page" : undefined} onClick={() => setMenuOpen(false)}>
                  {p.title}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="session-actions">
          <button type="button" data-testid="signout" onClick={() => onSignOut(false)}>
            Sign out
          </button>
          <button
            type="button"
            data-testid="signout-everywhere"
            title="End every session, in every browser"
            onClick={() => onSignOut(true)}
          >
            Sign out everywhere
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {route.page !== "dashboard" && <SetupBanner />}
        <Page route={route} />
      </main>
    </>
  );
}
