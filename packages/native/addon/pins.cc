// See pins.h. One mutex for all mappings: pinning happens once per write step of a submitted
// program, and the critical sections are a map lookup.
#include "pins.h"

#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace ferrite {

namespace {

struct Range {
  uintptr_t end;
  MappingPins* owner;
};

struct Pin {
  MappingPins* owner;
  uintptr_t start;
  uintptr_t end;
};

struct Registry {
  std::mutex mu;
  std::map<uintptr_t, Range> ranges;  // by start
  std::unordered_map<MappingPins*, uintptr_t> starts;
  std::unordered_map<uint64_t, Pin> pins;  // by token
  uint64_t next_token = 1;
};

// Leaked: usable from any thread until the process ends (no static destruction order issue).
Registry& R() {
  static auto* r = new Registry();
  return *r;
}

void EraseRange(Registry& r, MappingPins* owner) {
  auto it = r.starts.find(owner);
  if (it == r.starts.end()) return;
  r.ranges.erase(it->second);
  r.starts.erase(it);
}

}  // namespace

void RegisterMappedRange(MappingPins* owner, const uint8_t* start, uint64_t length) {
  Registry& r = R();
  std::lock_guard<std::mutex> lock(r.mu);
  EraseRange(r, owner);
  if (start == nullptr || length == 0) return;
  const uintptr_t s = reinterpret_cast<uintptr_t>(start);
  r.ranges[s] = Range{s + static_cast<uintptr_t>(length), owner};
  r.starts[owner] = s;
}

void UnregisterMappedRange(MappingPins* owner) {
  Registry& r = R();
  std::lock_guard<std::mutex> lock(r.mu);
  EraseRange(r, owner);
  for (auto it = r.pins.begin(); it != r.pins.end();) {
    if (it->second.owner == owner) it = r.pins.erase(it);
    else ++it;
  }
}

uint64_t PinMappedRange(const uint8_t* p, uint64_t n) {
  if (p == nullptr || n == 0) return 0;
  Registry& r = R();
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.ranges.upper_bound(a);
  if (it == r.ranges.begin()) return 0;
  --it;
  if (a >= it->second.end) return 0;
  const uint64_t token = r.next_token++;
  const uintptr_t end = a + static_cast<uintptr_t>(n);
  r.pins.emplace(token, Pin{it->second.owner, a, end < it->second.end ? end : it->second.end});
  return token;
}

void UnpinMappedRange(uint64_t token) {
  if (token == 0) return;
  Registry& r = R();
  std::lock_guard<std::mutex> lock(r.mu);
  r.pins.erase(token);
}

uint64_t PinsOver(MappingPins* owner, uint64_t offset, uint64_t length, bool all) {
  Registry& r = R();
  std::lock_guard<std::mutex> lock(r.mu);
  auto s = r.starts.find(owner);
  if (s == r.starts.end()) return 0;
  const uintptr_t from = s->second + static_cast<uintptr_t>(offset);
  const uintptr_t to = from + static_cast<uintptr_t>(length);
  uint64_t count = 0;
  for (const auto& [token, pin] : r.pins) {
    (void)token;
    if (pin.owner != owner) continue;
    if (all || (pin.start < to && pin.end > from)) count++;
  }
  return count;
}

}  // namespace ferrite
