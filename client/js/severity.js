// @ts-check
// The one severity scale of the UI, shared by the agent sidebar and the supervisor console: every badge, alert
// and risk cell says one of these words (i18n keys "severity.<level>"), so a row and the alert behind it always
// agree.  The server's prompt severities (assist.events.Severity) map onto it one to one; anything unknown is
// shown as "info" rather than breaking the page.

/** @typedef {"critical" | "high" | "medium" | "info"} Severity */

/** @type {readonly Severity[]} most severe first */
export const SEVERITIES = Object.freeze(["critical", "high", "medium", "info"]);

/** @type {Readonly<Record<Severity, number>>} */
export const SEVERITY_RANK = Object.freeze({ critical: 0, high: 1, medium: 2, info: 3 });

/**
 * The UI level of a server severity.
 * @param {string | null | undefined} sev
 * @returns {Severity}
 */
export function level(sev) {
  return sev && Object.prototype.hasOwnProperty.call(SEVERITY_RANK, sev) ? /** @type {Severity} */ (sev) : "info";
}

/**
 * 0 for the most severe.
 * @param {string | null | undefined} sev
 */
export function rank(sev) {
  return SEVERITY_RANK[level(sev)];
}

/**
 * The most severe of some severities, or null for none.
 * @param {Iterable<string>} sevs
 * @returns {Severity | null}
 */
export function worst(sevs) {
  /** @type {Severity | null} */
  let best = null;
  for (const s of sevs) if (best === null || rank(s) < rank(best)) best = level(s);
  return best;
}
