import Foundation

/// Turns values into stored bytes and back; `JSONValueCoder` unless one is injected.
public protocol StrataValueCoder: Sendable {
    /// The bytes stored for `value`.
    func encode<T: Encodable>(_ value: T) throws -> [UInt8]
    /// The value stored as `bytes`.
    func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T
}

/// JSON through Foundation's encoder and decoder (sorted keys, so equal values store equal bytes).
public struct JSONValueCoder: StrataValueCoder {
    /// A JSON coder.
    public init() {}

    /// JSON bytes of `value`.
    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(value))
    }

    /// `T` decoded from JSON `bytes`.
    public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try JSONDecoder().decode(type, from: Data(bytes))
    }
}

extension StrataClient {
    /// The value at `key` decoded as `T`, or `nil` when the key does not exist.
    /// - Throws: `StrataError` `invalidArgument` when the stored bytes do not decode.
    public func get<T: Decodable>(
        _ key: StrataKey, as type: T.Type, coder: some StrataValueCoder = JSONValueCoder(), options: RequestOptions = .init()
    ) async throws -> T? {
        guard let bytes = try await get(key, options: options) else { return nil }
        do {
            return try coder.decode(type, from: bytes)
        } catch {
            throw StrataError(.invalidArgument, "the value of \(key) does not decode as \(T.self): \(error)")
        }
    }

    /// Stores `value` at `key`, encoded by `coder`.
    @discardableResult
    public func set<T: Encodable>(
        _ key: StrataKey, encoding value: T, coder: some StrataValueCoder = JSONValueCoder(), ttl: Duration? = nil,
        condition: SetCondition = .always, options: RequestOptions = .init()
    ) async throws -> Bool {
        let bytes: [UInt8]
        do {
            bytes = try coder.encode(value)
        } catch {
            throw StrataError(.invalidArgument, "\(T.self) does not encode: \(error)")
        }
        return try await set(key, bytes, ttl: ttl, condition: condition, options: options)
    }
}
