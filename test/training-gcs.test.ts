import { inject } from 'vitest';
import { defineResumeSuite } from './fixtures/training-suite.js';
import { makeGcsLake } from './fixtures/lake-helpers.js';

// The same train/resume test against gs:// on fake-gcs-server: checkpoints uploaded after each event, restored
// through the staging cache before the resume (the local copies are deleted at the kill, as on a new machine).
defineResumeSuite('gs:// lake, emulator', () => makeGcsLake(inject('gcsEmulatorHost')), { sigterm: false, cancel: false, newMachine: true });
