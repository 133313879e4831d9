// Regenerates infra/ssm-document.json from infra/vip-address.sh (`npm run build:ssm-document`).
import { writeFileSync } from 'node:fs';
import { addressDocumentFromScript, DOCUMENT_PATH } from './ssm-document.ts';

writeFileSync(DOCUMENT_PATH, `${JSON.stringify(addressDocumentFromScript(), null, 2)}\n`);
console.log(`wrote ${DOCUMENT_PATH.pathname}`);
