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
import { Audit } from "./sections/Audit";

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

export const sections = [
  ["dashboard", "Dashboard"],
  ["connectors", "Connectors"],
  ["profiles", "Profiles"],
  ["mappings", "Mappings"],
  ["conflicts", "Conflicts"],
  ["runs", "Runs"],
  ["audit", "Audit log"],
] as const;

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

type SectionId = (typeof sections)[number][0];
const sectionIds: readonly SectionId[] = sections.map(([id]) => id);

function isSectionId(s: string): s is SectionId {
  return sectionIds.some((id) => id === s);
}

/**
 * The section the reader is in: the one named by the address (#connectors)
 * when a link was followed, then, while scrolling, the last section whose top
 * has reached the top bar. The top bar's height is kept in --topbar-h, which
 * the sections' scroll-margin-top uses, so that a followed link puts its
 * section just under the bar (never under it).
 */
export function useCurrentSection(topbar: RefObject<HTMLElement | null>): SectionId {
  const fromHash = () => {
    const h = decodeURIComponent(location.hash.slice(1));
    return isSectionId(h) ? h : sectionIds[0];
  };
  const [current, setCurrent] = useState<SectionId>(fromHash);
  useEffect(() => {
    const bar = topbar.current;
    const root = document.documentElement;
    const measure = () => root.style.setProperty("--topbar-h", `${bar?.getBoundingClientRect().height ?? 0}px`);
    measure();
    const ro = typeof ResizeObserver === "undefined" || !bar ? null : new ResizeObserver(measure);
    if (bar) ro?.observe(bar);

    const onHash = () => setCurrent(fromHash());
    let frame = 0;
    const onScroll = () => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => {
        const line = (bar?.getBoundingClientRect().bottom ?? 0) + 24;
        const els = sectionIds.map((id) => document.getElementById(id)).filter((el) => el !== null);
        if (els.length === 0) return;
        const atBottom = window.innerHeight + window.scrollY >= root.scrollHeight - 2;
        const hash = fromHash();
        const hashEl = document.getElementById(hash);
        // At the end of the page the last sections cannot reach the top: keep
        // the one the address names while it is in view.
        if (atBottom && location.hash && hashEl && hashEl.getBoundingClientRect().top < window.innerHeight) {
          setCurrent(hash);
          return;
        }
        let hit: SectionId = sectionIds[0];
        for (const el of els) if (el.getBoundingClientRect().top <= line && isSectionId(el.id)) hit = el.id;
        setCurrent(hit);
      });
    };
    window.addEventListener("hashchange", onHash);
    window.addEventListener("scroll", onScroll, { passive: true });
    return () => {
      ro?.disconnect();
      cancelAnimationFrame(frame);
      window.removeEventListener("hashchange", onHash);
      window.removeEventListener("scroll", onScroll);
    };
  }, [topbar]);
  return current;
}

function Console({ onSignOut }: { onSignOut: (everywhere: boolean) => void }) {
  const topbar = useRef<HTMLElement>(null);
  const current = useCurrentSection(topbar);
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
      <header className="topbar" ref={topbar}>
        <span className="brand">Timebridge</span>
        <nav aria-label="Sections" data-testid="nav">
          <ul>
            {sections.map(([id, title]) => (
              <li key={id}>
                <a href={`#${id}`} aria-current={current === id ? "location" : undefined}>
                  {title}
                </a>
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
        <Dashboard />
        <Connectors />
        <Profiles />
        <Mappings />
        <Conflicts />
        <Runs />
        <Audit />
      </main>
    </>
  );
}
