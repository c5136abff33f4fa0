// Whether this run called the master. The bin keeps the code cache of a run
// that did: that cache holds the gRPC code every such command needs, which
// a local run (help, completion) never compiles.

let contacted = false;

export function noteMasterContact(): void {
  contacted = true;
}

export function masterContacted(): boolean {
  return contacted;
}
