export interface SpecError {
  /** Path into the spec, e.g. ['steps', 2, 'needs', 0]. */
  path: (string | number)[];
  message: string;
}
