import { useEffect, useState, type FormEvent } from "react";
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

const sections = [
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

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!username.trim() || !password) {
      setError("Enter your username and password.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await api.login(username.trim(), password);
      onSignedIn();
    } catch (err) {
      setError(errorMessage(err));
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
          <p className="error-box" role="alert">
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

function Console({ onSignOut }: { onSignOut: (everywhere: boolean) => void }) {
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">Timebridge</span>
        <nav aria-label="Sections" data-testid="nav">
          <ul>
            {sections.map(([id, title]) => (
              <li key={id}>
                <a href={`#${id}`}>{title}</a>
              </li>
            ))}
          </ul>
        </nav>
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
