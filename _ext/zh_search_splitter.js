/* Split a search query into the terms of the Chinese search index (used by Sphinx's
 * searchtools.js instead of its default splitter). Latin words are split on non-word characters
 * as usual; each run of Chinese characters is cut greedily into the longest terms the index
 * knows, e.g. "扩散模型的训练" -> ["扩散模型", "训练"]. Single characters are skipped: the index
 * has none. */
var splitQuery = (query) => {
  const index = (typeof Search !== "undefined" && Search._index) || {};
  const known = (word) =>
    (index.terms && word in index.terms) || (index.titleterms && word in index.titleterms);
  const longest = 12;
  const terms = [];
  const words = query.split(/[^\p{Letter}\p{Number}_\p{Emoji_Presentation}]+/gu);
  for (const word of words.filter((w) => w)) {
    for (const piece of word.match(/\p{Script=Han}+|[^\p{Script=Han}]+/gu)) {
      if (!/\p{Script=Han}/u.test(piece)) {
        terms.push(piece);
        continue;
      }
      let start = 0;
      while (start < piece.length) {
        let end = Math.min(piece.length, start + longest);
        while (end > start + 1 && !known(piece.slice(start, end).toLowerCase())) end--;
        if (end > start + 1) terms.push(piece.slice(start, end));
        start = end;
      }
    }
  }
  return terms;
};
