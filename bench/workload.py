"""The campaign every sending bench measures: real-sized personalised Vietnamese mail.

Each recipient has a Vietnamese name and city (the CSV's `name` and `city` columns); the
subject merges the name; the text body (~1.5 KB) and the HTML body (~2 KB) merge the name and
the city; the HTML's footer carries the recipient's signed unsubscribe link, and the project
adds `List-Unsubscribe` to every campaign message. The comparisons (raw Python loops, Postfix's
`smtp-source`) send messages built from the same templates by the project's own builder, so
every system moves the same bytes.
"""

from __future__ import annotations

from pathlib import Path

FAMILY = [
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Lý",
    "Trương",
    "Đinh",
]
MIDDLE = [
    "Văn",
    "Thị",
    "Minh",
    "Thanh",
    "Ngọc",
    "Đức",
    "Hữu",
    "Quang",
    "Thu",
    "Hoài",
    "Xuân",
    "Bảo",
    "Gia",
    "Khánh",
]
GIVEN = [
    "An",
    "Bình",
    "Chi",
    "Dũng",
    "Giang",
    "Hà",
    "Hải",
    "Hạnh",
    "Hiếu",
    "Hoa",
    "Hùng",
    "Hương",
    "Khánh",
    "Lan",
    "Linh",
    "Long",
    "Mai",
    "Nam",
    "Nga",
    "Ngọc",
    "Phong",
    "Phúc",
    "Quân",
    "Sơn",
    "Tâm",
    "Thảo",
    "Trang",
    "Tuấn",
    "Uyên",
    "Việt",
    "Yến",
    "Đạt",
    "Hằng",
    "Thủy",
    "Vy",
    "Nhung",
    "Lộc",
]
CITIES = (
    "Hà Nội",
    "Thành phố Hồ Chí Minh",
    "Đà Nẵng",
    "Hải Phòng",
    "Cần Thơ",
    "Huế",
    "Nha Trang",
    "Đà Lạt",
    "Vũng Tàu",
    "Quy Nhơn",
    "Buôn Ma Thuột",
    "Hạ Long",
    "Vinh",
    "Biên Hòa",
    "Thái Nguyên",
    "Long Xuyên",
)
DOMAINS = ("example.com", "example.net", "example.org")

SUBJECT = "{{ name }} ơi, quà tặng cuối năm dành riêng cho bạn"

TEXT = """Kính gửi {{ name }},

Cảm ơn bạn đã đồng hành cùng Cửa hàng Sách Phương Nam trong suốt năm qua. Nhân dịp cuối năm, \
chúng tôi gửi đến bạn ở {{ city }} một món quà nhỏ: phiếu giảm giá 20% cho mọi đơn hàng sách \
và văn phòng phẩm, áp dụng tại tất cả cửa hàng ở {{ city }} và trên trang web của chúng tôi.

Những điều bạn cần biết:
- Phiếu có hiệu lực từ ngày 15 tháng 12 đến hết ngày 31 tháng 1 năm sau.
- Mỗi khách hàng dùng được một lần, cho đơn hàng từ 200.000 đồng trở lên.
- Miễn phí giao hàng nội thành {{ city }} cho đơn hàng từ 500.000 đồng.
- Không áp dụng đồng thời với các chương trình khuyến mãi khác.

Tháng này chúng tôi giới thiệu bộ sưu tập "Sách hay mùa đông" với hơn ba trăm đầu sách văn học, \
lịch sử và thiếu nhi, cùng những cuốn sổ tay bìa da được làm thủ công tại Việt Nam. Nhân viên \
của chúng tôi ở {{ city }} luôn sẵn lòng giúp bạn chọn quà cho gia đình và bạn bè.

Nếu bạn có câu hỏi, hãy trả lời thư này hoặc gọi đường dây nóng 1900 6656 (từ 8 giờ đến 21 giờ \
mỗi ngày, kể cả cuối tuần).

Chúc {{ name }} và gia đình một mùa lễ hội ấm áp, an lành và nhiều niềm vui.

Trân trọng,
Đội ngũ Cửa hàng Sách Phương Nam
"""

HTML = """<!DOCTYPE html>
<html lang="vi"><head><meta charset="utf-8"><title>Quà tặng cuối năm</title></head>
<body style="font-family: Arial, sans-serif; color: #222; max-width: 600px; margin: 0 auto;">
<h1 style="color: #b22222; font-size: 22px;">Quà tặng cuối năm cho {{ name }}</h1>
<p>Kính gửi <strong>{{ name }}</strong>,</p>
<p>Cảm ơn bạn đã đồng hành cùng Cửa hàng Sách Phương Nam trong suốt năm qua. Nhân dịp cuối năm,
chúng tôi gửi đến bạn ở <strong>{{ city }}</strong> phiếu giảm giá <strong>20%</strong> cho mọi
đơn hàng sách và văn phòng phẩm.</p>
<table style="border-collapse: collapse; width: 100%;">
<tr><td style="padding: 6px; border: 1px solid #ddd;">Hiệu lực</td>
<td style="padding: 6px; border: 1px solid #ddd;">15/12 đến hết 31/1 năm sau</td></tr>
<tr><td style="padding: 6px; border: 1px solid #ddd;">Đơn hàng tối thiểu</td>
<td style="padding: 6px; border: 1px solid #ddd;">200.000 đồng, mỗi khách một lần</td></tr>
<tr><td style="padding: 6px; border: 1px solid #ddd;">Giao hàng</td>
<td style="padding: 6px; border: 1px solid #ddd;">Miễn phí nội thành {{ city }}
từ 500.000 đồng</td></tr>
</table>
<p>Bộ sưu tập <em>Sách hay mùa đông</em>: hơn ba trăm đầu sách văn học, lịch sử và thiếu nhi,
cùng sổ tay bìa da làm thủ công tại Việt Nam.</p>
<p style="text-align: center;"><a href="https://example.com/uu-dai"
style="background: #b22222; color: #fff; padding: 10px 18px; text-decoration: none;"
>Xem ưu đãi</a></p>
<p>Chúc {{ name }} và gia đình một mùa lễ hội ấm áp, an lành.</p>
<p>Trân trọng,<br>Đội ngũ Cửa hàng Sách Phương Nam</p>
<hr><p style="font-size: 12px; color: #777;">Bạn nhận thư này vì đã đăng ký nhận tin.
<a href="{{ unsubscribe_url }}">Hủy đăng ký</a></p>
</body></html>
"""

SENDER = "dispatcher@example.com"
SENDER_NAME = "Hệ thống Gửi thư"  # MAIL_DEFAULT_SENDER of the benches' settings
BASE_URL = "http://127.0.0.1:5000"  # the config's default PUBLIC_BASE_URL


def row(i: int) -> tuple[str, str, str]:
    """Recipient `i`: (address, Vietnamese full name, Vietnamese city), the same every run."""
    name = (
        f"{FAMILY[i % len(FAMILY)]} {MIDDLE[(i // 7) % len(MIDDLE)]} "
        f"{GIVEN[(i * 13 + i // 3) % len(GIVEN)]}"
    )
    return f"khach.{i}@{DOMAINS[i % len(DOMAINS)]}", name, CITIES[(i * 5 + i // 11) % len(CITIES)]


def write_csv(path: Path, count: int, first: int = 0) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("email,name,city\r\n")
        for i in range(first, first + count):
            out.write(",".join(row(i)) + "\r\n")


def prebuilt_messages(
    count: int, first: int = 0, *, secret_key: str = "bench-secret", campaign_id: int = 1
) -> list[tuple[str, bytes]]:
    """The campaign's messages as (recipient, bytes), rendered by the project's own merge and
    builder as a worker renders them (List-Unsubscribe and its signed link included), before
    any clock runs."""
    from dashboard.mail.addresses import Mailbox
    from dashboard.mail.merge import compile_merge
    from dashboard.mail.skeleton import MimeSkeleton, Personalised
    from dashboard.sending.unsubscribe_links import unsubscribe_serializer, unsubscribe_url

    template = compile_merge(SUBJECT, TEXT, HTML)
    signer = unsubscribe_serializer(secret_key)
    skeleton = MimeSkeleton(
        Mailbox(SENDER, SENDER_NAME),
        has_html=True,
        list_unsubscribe=True,
        boundary_seed=f"campaign-{campaign_id}",
    )
    messages = []
    for i in range(first, first + count):
        address, name, city = row(i)
        link = unsubscribe_url(BASE_URL, signer, address, campaign_id)
        content = template.render(
            {"email": address, "name": name, "city": city, "unsubscribe_url": link}
        )
        data = skeleton.render(
            Personalised(
                Mailbox(address, name),
                content.subject,
                content.text,
                content.html,
                f"<bench-{i}@example.com>",
                unsubscribe_url=link,
            )
        )
        messages.append((address, data))
    return messages


def typical_message(sample: int = 200) -> tuple[bytes, float]:
    """The message of the first `sample` whose size is nearest their mean, and that mean:
    what `smtp-source` sends, once per message."""
    messages = [data for _, data in prebuilt_messages(sample)]
    mean = sum(len(m) for m in messages) / len(messages)
    return min(messages, key=lambda m: abs(len(m) - mean)), mean
