/**
 * The Region conformance suite on the simulator, every granularity (the NVM ones and the
 * 'file' disk): it shows that the suite asks nothing native-specific, and holds the
 * simulator to the same contract.
 */
import type { Region } from '../src/region.js';
import { SimulatedRegion } from '../src/testing/index.js';
import { regionConformanceSuite } from '../src/testing/region-conformance.js';

for (const granularity of ['cache-line', 'page', 'file'] as const) {
  regionConformanceSuite(`SimulatedRegion (${granularity})`, {
    create: (length: number): Region => new SimulatedRegion(length, { granularity }),
    reopen(region: Region): Region {
      if (!(region instanceof SimulatedRegion)) throw new Error('not a SimulatedRegion');
      region.close();
      // A clean restart: what the media holds, nothing in flight.
      return SimulatedRegion.fromImage(region.media(), { granularity });
    },
  });
}
