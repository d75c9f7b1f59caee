// node-gyp-build ships no types. Only binding.ts uses it; nothing of it is in the public API.
declare module 'node-gyp-build' {
  /** Loads the addon of the package at `dir`: build/Release, build/Debug, else prebuilds/. */
  function load(dir: string): unknown;
  namespace load {
    /** The path of the binary `load(dir)` would load; throws when there is none. */
    function path(dir: string): string;
  }
  export default load;
}
