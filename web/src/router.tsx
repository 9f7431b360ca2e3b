// A small client-side router on the History API (no dependency).
//
// The address is the state: useLocation() re-renders on every `popstate`
// event, which is both what the browser sends on back/forward and what
// navigate() (and any code that does `history.pushState(…)` followed by
// `dispatchEvent(new PopStateEvent("popstate"))`) sends after a push.
// useLinkInterception() turns a plain left click on any same-origin
// `<a href="/…">` in the document into such a navigation, so sections can use
// ordinary links (or <Link>) and still never reload the page.
import { useEffect, useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from "react";

export interface Location {
  /** The path, always starting with "/" ("/runs/01H…"). */
  path: string;
  /** The query string with its "?" ("" when there is none). */
  search: string;
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener("popstate", onChange);
  return () => window.removeEventListener("popstate", onChange);
}

// useSyncExternalStore needs a stable snapshot between changes: the string
// form, parsed by the hook.
const snapshot = () => window.location.pathname + window.location.search;

/** The current path and query string; re-renders when either changes. */
export function useLocation(): Location {
  const s = useSyncExternalStore(subscribe, snapshot, snapshot);
  const q = s.indexOf("?");
  return q < 0 ? { path: s, search: "" } : { path: s.slice(0, q), search: s.slice(q) };
}

/** The current query string's parameters. */
export function useSearchParams(): URLSearchParams {
  return new URLSearchParams(useLocation().search);
}

/**
 * Goes to `to` (a path with an optional query string, e.g.
 * "/reports?profile=p1") without reloading: pushes it (or replaces the
 * current entry) and announces the change with a popstate event. Going to
 * the address already shown does nothing.
 */
export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  const url = new URL(to, window.location.href);
  if (url.origin !== window.location.origin) {
    window.location.assign(url.href);
    return;
  }
  const next = url.pathname + url.search + url.hash;
  if (next === window.location.pathname + window.location.search + window.location.hash) return;
  if (opts.replace) window.history.replaceState({}, "", next);
  else window.history.pushState({}, "", next);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

/** The same-origin path an event's link goes to, or null when the browser should follow it itself. */
export function interceptedHref(e: Pick<globalThis.MouseEvent, "button" | "metaKey" | "ctrlKey" | "shiftKey" | "altKey" | "defaultPrevented" | "target">): string | null {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return null;
  const start = e.target instanceof Element ? e.target : e.target instanceof Node ? e.target.parentElement : null;
  const a = start?.closest("a");
  if (!a) return null;
  const href = a.getAttribute("href");
  // Only app paths: "/…", not "//host/…", "#…", "mailto:…" or "https://…".
  if (!href || !href.startsWith("/") || href.startsWith("//")) return null;
  const target = a.getAttribute("target");
  if ((target && target !== "_self") || a.hasAttribute("download")) return null;
  const url = new URL(href, window.location.href);
  if (url.origin !== window.location.origin) return null;
  return url.pathname + url.search + url.hash;
}

/**
 * While mounted, plain left clicks on same-origin `<a href="/…">` links
 * anywhere in the document navigate without a reload. Clicks with a
 * modifier key, another button, a target or a download attribute, and
 * clicks a handler already took (preventDefault) are left to the browser.
 */
export function useLinkInterception(): void {
  useEffect(() => {
    const onClick = (e: globalThis.MouseEvent) => {
      const to = interceptedHref(e);
      if (to === null) return;
      e.preventDefault();
      navigate(to);
    };
    document.addEventListener("click", onClick);
    return () => document.removeEventListener("click", onClick);
  }, []);
}

/** An ordinary link to an app path; navigates without reloading (see useLinkInterception, which also works without it). */
export function Link({ to, onClick, ...rest }: { to: string } & Omit<AnchorHTMLAttributes<HTMLAnchorElement>, "href">) {
  return (
    <a
      href={to}
      {...rest}
      onClick={(e: MouseEvent<HTMLAnchorElement>) => {
        onClick?.(e);
        const dest = interceptedHref(e.nativeEvent);
        if (dest === null) return;
        e.preventDefault();
        navigate(dest);
      }}
    />
  );
}

// ---- the console's pages ------------------------------------------------------

export const pages = [
  { id: "dashboard", path: "/", title: "Dashboard" },
  { id: "connectors", path: "/connectors", title: "Connectors" },
  { id: "profiles", path: "/profiles", title: "Profiles" },
  { id: "mappings", path: "/mappings", title: "Mappings" },
  { id: "conflicts", path: "/conflicts", title: "Conflicts" },
  { id: "runs", path: "/runs", title: "Runs" },
  { id: "reports", path: "/reports", title: "Reports" },
  { id: "audit", path: "/audit", title: "Audit log" },
] as const;

export type PageId = (typeof pages)[number]["id"];

/** What a path shows: one of the pages, a run's page, or nothing (not found). */
export type Route = { page: PageId } | { page: "run"; runId: string } | { page: "not-found" };

/** The route of a path; a trailing slash is ignored ("/runs/" is "/runs"). */
export function matchRoute(path: string): Route {
  const p = path.length > 1 ? path.replace(/\/+$/, "") || "/" : path;
  const hit = pages.find((x) => x.path === p);
  if (hit) return { page: hit.id };
  const run = /^\/runs\/([^/]+)$/.exec(p);
  if (run) {
    try {
      return { page: "run", runId: decodeURIComponent(run[1]) };
    } catch {
      return { page: "not-found" };
    }
  }
  return { page: "not-found" };
}

/** The nav entry a route belongs to (a run's page belongs to Runs). */
export function navPage(r: Route): PageId | null {
  if (r.page === "run") return "runs";
  if (r.page === "not-found") return null;
  return r.page;
}

/** document.title of a route: "Runs · Timebridge". */
export function routeTitle(r: Route): string {
  const name = r.page === "run" ? `Run ${r.runId}` : r.page === "not-found" ? "Page not found" : (pages.find((x) => x.id === r.page)?.title ?? "");
  return `${name} · Timebridge`;
}
