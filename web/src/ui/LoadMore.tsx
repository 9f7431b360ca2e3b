/** "Load more" for a cursor-paged list. */
export function LoadMore({ q }: { q: { hasNextPage: boolean; isFetchingNextPage: boolean; fetchNextPage: () => unknown } }) {
  if (!q.hasNextPage) return null;
  return (
    <button type="button" onClick={() => q.fetchNextPage()} disabled={q.isFetchingNextPage}>
      {q.isFetchingNextPage ? "Loading…" : "Load more"}
    </button>
  );
}
