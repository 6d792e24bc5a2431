import { defineResumeSuite } from './fixtures/training-suite.js';
import { makeLocalLake } from './fixtures/lake-helpers.js';

defineResumeSuite('file:// lake', makeLocalLake, { sigterm: true, cancel: true });
