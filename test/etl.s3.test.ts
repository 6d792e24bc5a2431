import { inject } from 'vitest';
import { defineEtlSuite } from './fixtures/etl-suite.js';
import { makeS3Lake } from './fixtures/lake-helpers.js';

// The same suite as etl.local.test.ts and etl.gcs.test.ts, against s3:// on a real S3 server (test/setup/s3-server.ts).
defineEtlSuite('S3 (s3://, versitygw)', () => makeS3Lake(inject('s3Server')));
