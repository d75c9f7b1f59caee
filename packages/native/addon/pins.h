// Mapped bytes that a queued I/O program will write to a file. A program's data array may be
// a view of a mapping's bytes; closing that mapping, growing it (both replace its old range
// with zero pages) or discarding its pages before the program ran would make the program
// write zeros or stale bytes, silently. So a submitted program pins the mapped ranges it
// writes from until it finished, and the mapping refuses those operations (EBUSY) meanwhile.
#pragma once

#include <cstdint>

namespace ferrite {

// A mapping's identity in the registry (a member of it; its address is the key).
struct MappingPins {
  char unused = 0;
};

// Registers [start, start + length) as the bytes of `owner` (replacing its earlier range).
// JS thread of the mapping; any thread may pin concurrently.
void RegisterMappedRange(MappingPins* owner, const uint8_t* start, uint64_t length);

// Forgets `owner`'s range and drops its pins (a mapping that goes away).
void UnregisterMappedRange(MappingPins* owner);

// If [p, p + n) lies in a registered range, pins it and returns a token (never 0); else 0.
uint64_t PinMappedRange(const uint8_t* p, uint64_t n);

// Releases a token from PinMappedRange (0 and unknown tokens are ignored). Any thread.
void UnpinMappedRange(uint64_t token);

// Pins of `owner` overlapping [offset, offset + length) of its range (all: length 0 and
// offset 0 with `all`).
uint64_t PinsOver(MappingPins* owner, uint64_t offset, uint64_t length, bool all);

}  // namespace ferrite
