/** GVariant codec: type strings, encode/decode (normal form, GLib semantics for hostile input), text printer. */
export { parseType, isValidType, alignUp, MAX_DEPTH, type TypeInfo, type BasicChar } from './type.js';
export { Variant, Just, v, lookup, lookupTyped, type GValue, type VarDict } from './value.js';
export { encode, offsetWidth } from './serialise.js';
export { decode, isNormal, defaultValue, type DecodeOptions } from './deserialise.js';
export { print, formatDouble } from './text.js';
export { GVariantError } from './errors.js';
