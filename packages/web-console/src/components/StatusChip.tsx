/** A task status or worker state as a coloured chip; the word is always there, colour only adds to it. */
export function StatusChip({ status }: { status: string }) {
  return <span className={`chip chip-${status.toLowerCase().replace(/_/g, '-')}`}>{status}</span>;
}
