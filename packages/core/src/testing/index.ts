/**
 * ferrite's crash-testing kit: simulated NVM and disks (`SimulatedRegion`, `SimulatedDisk`,
 * `SimulatedIoQueue`) and fast-check helpers that crash code under test at every flush,
 * drain, write and sync and check what recovery makes of it.
 */
export { SimulatedCrash, isSimulatedCrash } from './simulated-crash.js';
export type { CrashEvent, CrashOn } from './simulated-crash.js';
export {
  SimulatedRegion,
  CRASH_MODES,
  crashModeOfSeed,
  PAGE,
  SECTOR,
  MAX_PAGE_SIZE,
  MAX_SIMULATED_LENGTH,
} from './simulated-region.js';
export type {
  ByteRun,
  CrashChoice,
  CrashMode,
  EventCounts,
  SimulatedRegionOptions,
  WordChooser,
  WordSource,
} from './simulated-region.js';
export { SimulatedDisk, SimulatedFile, MAX_DISK_FILES, MAX_FILE_NAME_BYTES } from './simulated-disk.js';
export type { SimulatedDiskOptions } from './simulated-disk.js';
export { SimulatedIoQueue } from './simulated-io-queue.js';
export { SimulatedFileTarget, SharedFileView } from './simulated-file-target.js';
export type { SimulatedFileTargetOptions } from './simulated-file-target.js';
export type { SimulatedIoQueueOptions } from './simulated-io-queue.js';
export { Prng } from './prng.js';
export {
  CrashCheckFailure,
  IMAGE_ORDER,
  MAX_RECOVERY_CRASH_DEPTH,
  countEvents,
  crashPointArbitrary,
  crashProperty,
  eventsOf,
  forEveryCrashPoint,
  forEverySingleTear,
  runCrashPlan,
} from './crash-property.js';
export type {
  CrashContext,
  CrashPlan,
  CrashPlanInput,
  CrashPoint,
  CrashScenario,
  EveryCrashPointOptions,
  RecoveryCrash,
  RunEvents,
} from './crash-property.js';
export * from './region-conformance.js';
