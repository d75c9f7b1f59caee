/**
 * The pieces of the heap's format the command needs to describe a file without opening it
 * (so `info` and `check` can report a damaged header, and learn the layout name that
 * `Pool.open` requires): exported by @ferrite/heap as its format-inspection API.
 */
export { readHeaderCopy, uuidString, HEADER_A, HEADER_B, H_END, LOG_HEADER, HEADER_COPY_SIZE } from '@ferrite/heap';
