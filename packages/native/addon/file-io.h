// Files written with explicit writes and syncs (the `FileIO` of @ferrite/core), and the queue
// that runs programs of those writes and syncs in order on a thread of its own (`IoQueue`).
//
// What a file-backed pool is made durable with: the writer keeps its stores in a private
// mapping, and each commit is a program — a redo record written to the log file and synced,
// then the changed ranges written to the pool file. The queue runs programs off the event
// loop, strictly one after the other, and stops at the first failure so that nothing is
// written after it.
#pragma once

#include <napi.h>

namespace ferrite {

// Defines NativeFile, NativeIoQueue and setFileKey on `exports`.
void InitFileIo(Napi::Env env, Napi::Object exports);

}  // namespace ferrite
