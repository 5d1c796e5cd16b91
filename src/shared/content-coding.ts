/** The content codings Miko compresses with, best first. */
export type ContentCoding = "br" | "gzip"

const refused = /^\s*q\s*=\s*0(?:\.0{0,3})?\s*$/i

/**
 * The coding to answer with, given the request's `Accept-Encoding`: the first of `offered`
 * (best first) that the client names without `q=0`; none when it names none of them.
 */
export const preferredCoding = (
  acceptEncoding: string | undefined,
  offered: ReadonlyArray<ContentCoding> = ["br", "gzip"]
): ContentCoding | undefined => {
  if (acceptEncoding === undefined || acceptEncoding === "") return undefined
  const taken = new Set<string>()
  for (const part of acceptEncoding.split(",")) {
    const [coding = "", ...params] = part.split(";")
    if (!params.some((param) => refused.test(param))) taken.add(coding.trim().toLowerCase())
  }
  return offered.find((coding) => taken.has(coding))
}
