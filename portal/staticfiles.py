"""Static files for the ASGI server: WhiteNoise's look-up, caching headers and compression,
with the file's bytes in the answer instead of a file stream.

Django's ASGI handler can only stream asynchronous iterators; WhiteNoise hands it a file,
which Django then reads through a thread with a warning on every request ("StreamingHttpResponse
must consume synchronous iterators"). The portal's static files are a few small ones, so they
are read whole on the middleware's thread; anything past ``MAX_IN_MEMORY`` stays streamed.
"""

from django.http import HttpResponse
from whitenoise.middleware import WhiteNoiseMiddleware

MAX_IN_MEMORY = 4 * 1024 * 1024


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    @staticmethod
    def serve(static_file, request):
        streamed = WhiteNoiseMiddleware.serve(static_file, request)
        size = int(streamed.get("Content-Length") or 0)
        if size > MAX_IN_MEMORY:
            return streamed
        try:
            body = b"".join(streamed.streaming_content)
        finally:
            streamed.close()
        answer = HttpResponse(body, status=streamed.status_code)
        del answer["Content-Type"]
        for key, value in streamed.headers.items():
            answer[key] = value
        return answer
