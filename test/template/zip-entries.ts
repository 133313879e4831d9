import { readFileSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';

/** The signature each kind of zip record starts with. */
const SIGNATURE = { endOfCentralDirectory: 0x06054b50, centralDirectoryEntry: 0x02014b50, localFileHeader: 0x04034b50 } as const;

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  localHeaderOffset: number;
}

/** Entries of a zip, read from its central directory (enough to check what a function ships). */
function centralDirectory(zip: Buffer, file: string): ZipEntry[] {
  let end = zip.length - 22;
  while (end >= 0 && zip.readUInt32LE(end) !== SIGNATURE.endOfCentralDirectory) end -= 1;
  if (end < 0) throw new Error(`${file} is not a zip file`);
  const count = zip.readUInt16LE(end + 10);
  let offset = zip.readUInt32LE(end + 16);
  const entries: ZipEntry[] = [];
  for (let index = 0; index < count; index += 1) {
    if (zip.readUInt32LE(offset) !== SIGNATURE.centralDirectoryEntry) throw new Error(`${file}: broken central directory`);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    entries.push({
      name: zip.subarray(offset + 46, offset + 46 + nameLength).toString('utf8'),
      method: zip.readUInt16LE(offset + 10),
      compressedSize: zip.readUInt32LE(offset + 20),
      localHeaderOffset: zip.readUInt32LE(offset + 42),
    });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** File names in a zip. */
export function zipEntries(file: string): string[] {
  return centralDirectory(readFileSync(file), file).map((entry) => entry.name);
}

/** The text of one stored or deflated file in a zip. */
export function zipEntryText(file: string, name: string): string {
  const zip = readFileSync(file);
  const entry = centralDirectory(zip, file).find((candidate) => candidate.name === name);
  if (entry === undefined) throw new Error(`${file} has no ${name}`);
  const header = entry.localHeaderOffset;
  if (zip.readUInt32LE(header) !== SIGNATURE.localFileHeader) throw new Error(`${file}: broken local header for ${name}`);
  const start = header + 30 + zip.readUInt16LE(header + 26) + zip.readUInt16LE(header + 28);
  const data = zip.subarray(start, start + entry.compressedSize);
  if (entry.method === 0) return data.toString('utf8');
  if (entry.method === 8) return inflateRawSync(data).toString('utf8');
  throw new Error(`${file}: ${name} uses compression method ${entry.method}`);
}
