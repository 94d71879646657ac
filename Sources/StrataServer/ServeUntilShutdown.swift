import NIOCore
import ServiceLifecycle

extension Channel {
    /// Waits until this listening channel is closed, closing it on a graceful
    /// shutdown (SIGTERM, SIGINT through the `ServiceGroup`) or when the calling
    /// task is cancelled: how node, gateway and coordinator serve.
    public func serveUntilShutdown() async {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                try? await self.closeFuture.get()
            } onGracefulShutdown: {
                self.close(promise: nil)
            }
        } onCancel: {
            self.close(promise: nil)
        }
    }
}
