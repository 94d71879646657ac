/// Redis-style glob matching for SCAN MATCH and CONFIG GET: `*`, `?`, `[abc]`,
/// `[^a-z]`, `\x` escapes, with Redis's `stringmatchlen` quirks. Binary-safe; iterative with single-star backtracking.
public enum GlobPattern {
    /// Whether `string` matches `pattern`.
    /// - Parameters:
    ///   - pattern: The glob.
    ///   - string: The bytes to match.
    ///   - caseInsensitive: Whether ASCII letters match either case (CONFIG GET).
    /// - Complexity: O(*n* × *m*) at worst, in the two lengths.
    public static func matches(pattern: ArraySlice<UInt8>, string: ArraySlice<UInt8>, caseInsensitive: Bool = false) -> Bool {
        // Redis's matcher never matches an empty string (but with an empty
        // pattern); its KEYS and SCAN take a lone `*` to mean every key.
        if string.isEmpty { return pattern.isEmpty || pattern.elementsEqual([UInt8(ascii: "*")]) }
        let p = Array(pattern)
        let s = Array(string)
        var pi = 0
        var si = 0
        var starP = -1
        var starS = 0
        func fold(_ b: UInt8) -> UInt8 { caseInsensitive && b >= 65 && b <= 90 ? b + 32 : b }
        func matchOne(_ pi: Int, _ c: UInt8) -> (Bool, Int)? {
            // Returns (matched, pattern length consumed) or nil when the pattern is exhausted.
            guard pi < p.count else { return nil }
            switch p[pi] {
            case UInt8(ascii: "?"): return (true, 1)
            case UInt8(ascii: "["):
                var i = pi + 1
                var negate = false
                if i < p.count, p[i] == UInt8(ascii: "^") { negate = true; i += 1 }
                var matched = false
                while i < p.count, p[i] != UInt8(ascii: "]") {
                    if p[i] == UInt8(ascii: "\\"), i + 1 < p.count {
                        if fold(p[i + 1]) == fold(c) { matched = true }
                        i += 2
                    } else if i + 2 < p.count, p[i + 1] == UInt8(ascii: "-") {
                        // As Redis: the bounds and the byte compare as C `char`s (signed), and
                        // `a-]` is a range up to `]`.
                        let (start, end) = (Int8(bitPattern: fold(p[i])), Int8(bitPattern: fold(p[i + 2])))
                        let byte = Int8(bitPattern: fold(c))
                        if byte >= min(start, end) && byte <= max(start, end) { matched = true }
                        i += 3
                    } else {
                        if fold(p[i]) == fold(c) { matched = true }
                        i += 1
                    }
                }
                let consumed = (i < p.count ? i + 1 : i) - pi
                return (matched != negate, consumed)
            case UInt8(ascii: "\\") where pi + 1 < p.count:
                return (fold(p[pi + 1]) == fold(c), 2)
            default:
                return (fold(p[pi]) == fold(c), 1)
            }
        }
        while si < s.count {
            if pi < p.count, p[pi] == UInt8(ascii: "*") {
                starP = pi
                starS = si
                pi += 1
                continue
            }
            if let (ok, length) = matchOne(pi, s[si]), ok {
                pi += length
                si += 1
                continue
            }
            guard starP >= 0 else { return false }
            pi = starP + 1
            starS += 1
            si = starS
        }
        while pi < p.count, p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }
}
