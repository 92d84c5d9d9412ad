/**
 * What a requested ref pulls onto the drive with it (resolve.ts): an app's runtime and (with `--include-sdk`) its
 * SDK, and the related extensions of a ref, by its metadata's extension points and the `--extensions` policy.
 */
import { NotFoundError, UnsupportedError } from '../errors.js';
import { parseKeyFile } from '../keyfile/index.js';
import type { SourceRef } from './catalog.js';
import { extensionPoints, type ExtensionPoint } from './metadata.js';
import { planned, type PlanBuilder } from './plan-builder.js';
import { splitRef, type RefParts } from './ref.js';
import type { ExtensionPolicy } from './resolve-types.js';

/** An app's runtime (and its related refs, by `policy`) and, with `includeSdk`, its SDK. */
export async function addAppDependencies(
  plan: PlanBuilder,
  app: SourceRef,
  policy: ExtensionPolicy = plan.input.extensions ?? 'auto',
): Promise<void> {
  const input = plan.input;
  const kf = parseKeyFile(await input.metadataOf(app));
  const runtime = kf.get('Application', 'runtime');
  if (!runtime) throw new UnsupportedError(`'${app.ref}' has no runtime in its metadata`, { ref: app.ref });
  const runtimeRef = `runtime/${runtime}`;
  const rt = plan.one(runtimeRef);
  if (!rt && input.plannedElsewhere?.(runtimeRef)) return; // another source of the run brings it, with its extensions
  if (!rt) {
    const where =
      input.sourceKind === 'installation' ? 'is not installed in the source installation' : 'is not in the source';
    throw new NotFoundError(`runtime '${runtimeRef}' needed by '${app.ref}' ${where}`, {
      ref: runtimeRef,
      requestedBy: app.ref,
    });
  }
  if (await input.isExtraData(rt)) {
    plan.warn(
      'extra-data-skipped',
      `omitting runtime '${rt.ref}' of '${app.ref}' and its related refs: it is extra-data`,
      { ref: rt.ref },
    );
  } else {
    const rtCid = (await plan.collectionOf(rt, true)) as string;
    plan.add(planned(rt, rtCid, 'runtime', { subpaths: plan.deployedSubpaths(rt), requestedBy: app.ref }));
    // A runtime new to the drive (an updated app moved to another branch) brings its Locale and GL as create's do.
    const isNew = input.onDrive && !input.onDrive.has(rt.ref);
    await addRelated(plan, rt, isNew ? (input.newRefExtensions ?? policy) : policy);
  }
  const sdk = kf.get('Application', 'sdk');
  if (input.includeSdk && sdk) {
    const sdkRef = plan.one(`runtime/${sdk}`);
    if (!sdkRef)
      plan.warn('sdk-missing', `SDK 'runtime/${sdk}' of '${app.ref}' is not in the source`, {
        ref: `runtime/${sdk}`,
      });
    else {
      const sdkCid = await plan.collectionOf(sdkRef, false);
      if (sdkCid)
        plan.add({
          collectionId: sdkCid,
          ref: sdkRef.ref,
          commit: sdkRef.commit,
          subpaths: null,
          reason: 'sdk',
          requestedBy: app.ref,
        });
    }
  }
}

/** The related extensions of `owner` its metadata names, as the `--extensions` policy (or `policy`) selects them. */
export async function addRelated(
  plan: PlanBuilder,
  owner: SourceRef,
  policy: ExtensionPolicy = plan.input.extensions ?? 'auto',
): Promise<void> {
  const input = plan.input;
  if (policy === 'none') return;
  const parts = splitRef(owner.ref);
  if (!parts) return;
  const kf = parseKeyFile(await input.metadataOf(owner));
  for (const ext of extensionPoints(kf, parts.branch)) {
    if (policy === 'locale' && !ext.isLocale) continue;
    for (const version of ext.versions) {
      for (const c of candidates(plan, ext, parts, version)) {
        const cParts = splitRef(c.ref);
        if (!cParts) continue;
        if (
          policy === 'auto' &&
          input.sourceKind !== 'installation' &&
          !ext.isLocale &&
          (ext.noAutodownload || ext.conditions.length)
        ) {
          // Hardware-specific extensions (GL drivers …): take the `.default` one a client with the default driver uses.
          if (!(ext.subdirectories && cParts.id === `${ext.name}.default`)) continue;
        }
        if (await input.isExtraData(c)) {
          plan.warn(
            'extra-data-skipped',
            `omitting related ref '${c.ref}' of '${owner.ref}': ` +
              'it is extra-data, which cannot be distributed offline',
            { ref: c.ref },
          );
          continue;
        }
        const cid = await plan.collectionOf(c, false);
        if (!cid) continue;
        const { subpaths, languages } = ext.isLocale
          ? plan.localeSubpaths(c)
          : { subpaths: plan.deployedSubpaths(c), languages: undefined };
        plan.add(planned(c, cid, 'related', { subpaths, requestedBy: owner.ref, ...(languages ? { languages } : {}) }));
      }
    }
  }
}

/**
 * The refs of the source an extension point names for one version: the exact ref, or else (for an extension point
 * with subdirectories) every `runtime/NAME.*` of the same arch and version.
 */
function candidates(plan: PlanBuilder, ext: ExtensionPoint, parts: RefParts, version: string): SourceRef[] {
  const hit = plan.one(`runtime/${ext.name}/${parts.arch}/${version}`);
  if (hit) return [hit];
  if (!ext.subdirectories) return [];
  const prefix = `runtime/${ext.name}.`;
  const suffix = `/${parts.arch}/${version}`;
  return plan.input.catalog.filter(
    (c) => c.ref.startsWith(prefix) && c.ref.endsWith(suffix) && c.ref.split('/').length === 4,
  );
}
