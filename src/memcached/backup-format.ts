// The memplay backup file: layout (backup-layout.ts), streamed writer
// (backup-writer.ts) and streamed reader (backup-reader.ts), in one import.

export {
  BACKUP_EXTENSION,
  type BackupHeader,
  type BackupItem,
  FORMAT_VERSION,
  HEADER_SIZE,
  MAGIC_LINE,
} from './backup-layout.js';
export {
  BackupFileError,
  type BackupProblem,
  type BackupVerification,
  readBackupHeader,
  readBackupItems,
  verifyBackup,
} from './backup-reader.js';
export { type BackupWriter, type BackupWriterOptions, createBackupWriter } from './backup-writer.js';
