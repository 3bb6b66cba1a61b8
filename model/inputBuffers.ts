/**
 * Model inputs' buffers, handed back by the inference workers once their run is done, for the next
 * frames' inputs (prepareModelInput): 0.2–0.8 MB a frame that the main thread's collector no longer
 * sees — on two cores its mark-compacts, started by external memory, are CPU the workers lack.
 * Kept per byte length, a few at most: inputs in flight are bounded by the frame credits.
 *
 *   recycleInputBuffer(buffer)     after a worker's reply
 *   takeInputBuffer(byteLength)    → a buffer of that length, or undefined (allocate one)
 */
const MAX_KEPT = 16;
const free = new Map<number, ArrayBuffer[]>();
let kept = 0;

export function recycleInputBuffer(buffer: ArrayBuffer): void {
  if (kept >= MAX_KEPT || buffer.byteLength === 0) return;
  const list = free.get(buffer.byteLength);
  if (list) list.push(buffer);
  else free.set(buffer.byteLength, [buffer]);
  kept++;
}

export function takeInputBuffer(byteLength: number): ArrayBuffer | undefined {
  const buffer = free.get(byteLength)?.pop();
  if (buffer) kept--;
  return buffer;
}
