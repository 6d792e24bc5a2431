import { inject } from 'vitest';
import { defineEtlSuite } from './fixtures/etl-suite.js';
import { makeGcsLake } from './fixtures/lake-helpers.js';

// The same suite as etl.local.test.ts, against gs:// on fake-gcs-server (test/setup/gcs-emulator.ts).
defineEtlSuite('GCS (gs://, emulator)', () => makeGcsLake(inject('gcsEmulatorHost')));
