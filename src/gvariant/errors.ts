/** The codec's only error: bad type strings, values that do not fit their type, and bytes that do not decode. */
import { CorruptError, type CorruptCode, type ErrorData, type ErrorOptions } from '../errors.js';

export class GVariantError extends CorruptError {
  constructor(message: string, data: ErrorData = {}, code: CorruptCode = 'EGVARIANT', options?: ErrorOptions) {
    super(message, data, code, options);
  }
}
