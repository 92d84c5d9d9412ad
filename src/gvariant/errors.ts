/** The codec's only error: bad type strings, values that do not fit their type, and bytes that do not decode. */
import { CorruptError, type ErrorData } from '../errors.js';

export class GVariantError extends CorruptError {
  constructor(message: string, data: ErrorData = {}) {
    super(message, data, 'EGVARIANT');
  }
}
