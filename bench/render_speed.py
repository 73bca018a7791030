"""Benchmark: CPU per message of building a campaign's personalised mail, the worker's way.

    .venv/bin/python bench/render_speed.py [--count 20000] [--rounds 5] [--tree PATH ...]

Renders `--count` real-sized personalised Vietnamese messages (a text body of ~1.5 KB and an
HTML body of ~2 KB with {{ name }} and {{ city }} merged several times, a Vietnamese subject
with the name, a List-Unsubscribe link) through `CampaignRenderer.envelope`, the function the
worker's batch calls, one renderer per batch of 500 (a bulk batch's least).
Prints the CPU time per message (`time.process_time`), the median of `--rounds` rounds.

Each `--tree` (a checkout of this project, e.g. `git worktree add /tmp/render-base <commit>`)
is measured in its own subprocess, the trees taking turns round by round so that both see the
same machine; the first tree is the reference for the ratio. Without `--tree`, this checkout.
No database, broker or network: the rows are built in memory before the clock starts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCH = 500
SUBJECT = "{{ name }} ơi, ưu đãi cuối năm dành riêng cho khách hàng ở {{ city }}"
TEXT = """Kính gửi {{ name }},

Cảm ơn anh/chị đã đồng hành cùng Hệ thống Gửi thư trong suốt năm qua. Nhân dịp cuối năm,
chúng tôi xin gửi tới {{ name }} chương trình ưu đãi đặc biệt dành cho khách hàng tại {{ city }}.

Những điều {{ name }} sẽ nhận được:
- Giảm 30% cho mọi đơn hàng đặt trước ngày 31 tháng 12.
- Miễn phí vận chuyển trong nội thành {{ city }} cho đơn từ 300.000 đồng.
- Quà tặng kèm theo mỗi đơn hàng: sổ tay da thật khắc tên riêng.
- Tích điểm gấp đôi cho thẻ thành viên, đổi quà ngay tại cửa hàng.

Cửa hàng gần {{ name }} nhất ở {{ city }} mở cửa từ 8 giờ sáng đến 10 giờ tối, kể cả thứ
bảy và chủ nhật. Nhân viên của chúng tôi luôn sẵn lòng tư vấn sản phẩm phù hợp nhất với nhu
cầu của anh/chị và gia đình.

Mã ưu đãi của anh/chị: CUOINAM-2026. Hãy nhập mã này khi thanh toán trực tuyến, hoặc đưa cho
nhân viên thu ngân khi mua hàng tại cửa hàng.

Nếu có bất kỳ câu hỏi nào, {{ name }} vui lòng trả lời thư này hoặc gọi tổng đài 1900 1234
(miễn phí cước gọi). Chúng tôi rất mong được phục vụ anh/chị tại {{ city }}.

Trân trọng,
Phòng Chăm sóc Khách hàng
Hệ thống Gửi thư

Để ngừng nhận thư: {{ unsubscribe_url }}
"""
HTML = """<!DOCTYPE html>
<html lang="vi"><head><meta charset="utf-8"><title>Ưu đãi cuối năm</title></head>
<body style="font-family: Arial, sans-serif; color: #222; line-height: 1.5;">
<table width="100%" cellpadding="0" cellspacing="0"><tr><td align="center">
<table width="600" cellpadding="16" cellspacing="0" style="border: 1px solid #ddd;">
<tr><td style="background: #c0392b; color: #fff; font-size: 22px;">Ưu đãi cuối năm</td></tr>
<tr><td>
<p>Kính gửi <b>{{ name }}</b>,</p>
<p>Cảm ơn anh/chị đã đồng hành cùng Hệ thống Gửi thư trong suốt năm qua. Nhân dịp cuối năm,
chúng tôi xin gửi tới {{ name }} chương trình ưu đãi đặc biệt dành cho khách hàng tại
<b>{{ city }}</b>.</p>
<ul>
<li>Giảm <b>30%</b> cho mọi đơn hàng đặt trước ngày 31 tháng 12.</li>
<li>Miễn phí vận chuyển trong nội thành {{ city }} cho đơn từ 300.000 đồng.</li>
<li>Quà tặng kèm theo mỗi đơn hàng: sổ tay da thật khắc tên riêng.</li>
<li>Tích điểm gấp đôi cho thẻ thành viên, đổi quà ngay tại cửa hàng.</li>
</ul>
<p>Cửa hàng gần {{ name }} nhất ở {{ city }} mở cửa từ 8 giờ sáng đến 10 giờ tối, kể cả thứ
bảy và chủ nhật.</p>
<p style="font-size: 18px;">Mã ưu đãi của anh/chị: <b>CUOINAM-2026</b></p>
<p><a href="https://shop.example.vn/uu-dai?ma=CUOINAM-2026" style="background: #c0392b;
color: #fff; padding: 10px 20px; text-decoration: none;">Mua sắm ngay</a></p>
<p>Nếu có bất kỳ câu hỏi nào, {{ name }} vui lòng trả lời thư này hoặc gọi tổng đài
1900 1234 (miễn phí cước gọi).</p>
<p>Trân trọng,<br>Phòng Chăm sóc Khách hàng<br>Hệ thống Gửi thư</p>
</td></tr>
<tr><td style="font-size: 12px; color: #888;">Thư này được gửi tới {{ email }}.
<a href="{{ unsubscribe_url }}">Ngừng nhận thư</a></td></tr>
</table></td></tr></table>
</body></html>
"""
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng"]
MIDDLE = ["Văn", "Thị", "Minh", "Ngọc", "Đức", "Thu", "Hữu", "Thanh"]
GIVEN = ["An", "Bình", "Châu", "Dũng", "Giang", "Hạnh", "Khoa", "Linh", "Phúc", "Quỳnh", "Tâm"]
CITIES = ["Hà Nội", "Thành phố Hồ Chí Minh", "Đà Nẵng", "Huế", "Cần Thơ", "Hải Phòng"]


def person(i: int) -> tuple[str, str, str]:
    name = f"{FAMILY[i % 10]} {MIDDLE[i // 10 % 8]} {GIVEN[i // 80 % 11]}"
    return f"khach{i}@example.vn", name, CITIES[i % 6]


def one_round(count: int) -> float:
    """µs of CPU per message for `count` messages, in this process, with this tree's code."""
    from collections import namedtuple

    from dashboard.models import Campaign
    from dashboard.sending.envelopes import CampaignRenderer

    config = {
        "PUBLIC_BASE_URL": "https://mail.example.vn",
        "MERGE_MAX_RENDERED_BYTES": 1024 * 1024,
        "SECRET_KEY": "a-long-random-secret-key-for-the-benchmark-0123456789",
        "BOUNCE_DOMAIN": "",
    }
    campaign = Campaign(
        id=7,
        source="csv",
        queue="bulk",
        from_address="tin@example.vn",
        from_name="Hệ thống Gửi thư",
        subject=SUBJECT,
        text_body=TEXT,
        html_body=HTML,
        merge=True,
    )
    row = namedtuple(
        "Row", "id campaign_id to_address to_name message_id_header merge_data attempts"
    )
    rows = []
    for i in range(count):
        address, name, city = person(i)
        values = json.dumps({"email": address, "name": name, "city": city}, ensure_ascii=False)
        rows.append(row(i + 1, 7, address, name, f"<{i + 1}.7@example.vn>", values, 0))
    sample = CampaignRenderer(campaign, config).envelope(rows[0]).data  # ~6 KB on the wire
    started = time.process_time()
    for first in range(0, count, BATCH):
        renderer = CampaignRenderer(campaign, config)
        for message in rows[first : first + BATCH]:
            renderer.envelope(message)
    spent = time.process_time() - started
    assert len(sample) > 4000, len(sample)
    return spent / count * 1e6


def measure(tree: Path, count: int) -> float:
    """One round in a fresh interpreter that imports `dashboard` from `tree`."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2]);"
        "from render_speed import one_round; print(one_round(int(sys.argv[3])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent), str(tree), str(count)],
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tree", type=Path, action="append", help="a checkout to measure")
    args = parser.parse_args()
    trees = [tree.resolve() for tree in args.tree or [ROOT]]
    figures: dict[Path, list[float]] = {tree: [] for tree in trees}
    for number in range(args.rounds):
        for tree in trees:
            figures[tree].append(measure(tree, args.count))
        print(
            f"round {number + 1}: "
            + ", ".join(f"{tree.name} {figures[tree][-1]:.1f} µs" for tree in trees),
            flush=True,
        )
    medians = {tree: statistics.median(values) for tree, values in figures.items()}
    print(f"\n{args.count:,} messages a round, median of {args.rounds} rounds, CPU per message:")
    for tree in trees:
        ratio = medians[tree] / medians[trees[0]]
        print(f"  {tree!s:40} {medians[tree]:8.1f} µs  ({ratio:.2f} of {trees[0].name}'s)")


if __name__ == "__main__":
    main()
