import { inject } from 'vitest';
import { defineResumeSuite } from './fixtures/training-suite.js';
import { makeS3Lake } from './fixtures/lake-helpers.js';

// The same train/resume test against s3:// on a real S3 server: checkpoints uploaded after each event, restored
// through the staging cache before the resume (the local copies are deleted at the kill, as on a new machine).
defineResumeSuite('s3:// lake, versitygw', () => makeS3Lake(inject('s3Server')), { sigterm: false, cancel: false, newMachine: true });
