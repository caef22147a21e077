import type { GateResult } from '../domain/gates.ts';
import type { GateContext } from './context.ts';

/**
 * Seed §3.1 "no unreviewed changes": the commit was reviewed by enough people other than its
 * author (recorded at build time: `--reviewer` and `Reviewed-by:` trailers), and the build came
 * from a clean checkout, so nothing in it escaped the review.
 */
export function reviewsGate(ctx: GateContext): GateResult {
  const { commit } = ctx.metadata;
  const required = ctx.gates.reviews;
  const author = commit.author?.toLowerCase();
  const authorParts = new Set(author ? [author, ...(/^(.*?)\s*<(.+)>$/.exec(author)?.slice(1) ?? [])] : []);
  const reviewers = commit.reviewers ?? [];
  const counted = reviewers.filter((r) => !authorParts.has(r.toLowerCase()));
  const selfReviews = reviewers.filter((r) => authorParts.has(r.toLowerCase()));
  const evidence = [
    `commit ${commit.sha} (${commit.branch})${commit.author ? ` by ${commit.author}` : ''}`,
    reviewers.length ? `reviewed by ${reviewers.join(', ')}` : 'no reviewers recorded',
    ...(selfReviews.length ? [`not counted (the author): ${selfReviews.join(', ')}`] : []),
    `checkout ${commit.dirty ? 'had uncommitted changes' : 'was clean'} at build time`,
  ];
  const problems = [
    ...(counted.length < required ? [`${counted.length} of the ${required} required review(s)`] : []),
    ...(commit.dirty ? ['built from a checkout with uncommitted (unreviewed) changes'] : []),
  ];
  return {
    gate: 'reviews',
    passed: problems.length === 0,
    summary:
      problems.length === 0
        ? `${counted.length} review(s), ${required} required`
        : `${problems.join('; ')}: rebuild from the reviewed commit with --reviewer <name> or Reviewed-by: trailers`,
    evidence,
  };
}
